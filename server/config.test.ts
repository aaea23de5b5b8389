import { describe, expect, it } from "vitest";

import { loadConfig } from "./config";

/** An environment with only these variables (Next's global types make NODE_ENV a required key). */
function env(variables: Record<string, string> = {}): NodeJS.ProcessEnv {
  return variables as unknown as NodeJS.ProcessEnv;
}

describe("loadConfig", () => {
  it("takes the run directory from NSLAB_RUN_DIR, /run/nslab by default", () => {
    expect(loadConfig(env(), "/opt/nslab").NSLAB_RUN_DIR).toBe("/run/nslab");
    expect(loadConfig(env({ NSLAB_RUN_DIR: "/run/nslab-2" }), "/opt/nslab").NSLAB_RUN_DIR).toBe("/run/nslab-2");
  });

  it("refuses the old name NSLAB_STATE_DIR alone rather than ignoring it", () => {
    expect(() => loadConfig(env({ NSLAB_STATE_DIR: "/run/elsewhere" }), "/opt/nslab")).toThrow("NSLAB_STATE_DIR was renamed NSLAB_RUN_DIR; set that instead");
    expect(loadConfig(env({ NSLAB_STATE_DIR: "/run/elsewhere", NSLAB_RUN_DIR: "/run/nslab-2" }), "/opt/nslab").NSLAB_RUN_DIR).toBe("/run/nslab-2");
  });

  it("puts writable layers on disk where the host can unless NSLAB_LAYER_STORAGE says otherwise, and refuses other words", () => {
    expect(loadConfig(env(), "/opt/nslab").NSLAB_LAYER_STORAGE).toBe("auto");
    expect(loadConfig(env({ NSLAB_LAYER_STORAGE: "disk" }), "/opt/nslab").NSLAB_LAYER_STORAGE).toBe("disk");
    expect(() => loadConfig(env({ NSLAB_LAYER_STORAGE: "ssd" }), "/opt/nslab")).toThrow(/NSLAB_LAYER_STORAGE: .*"auto"\|"disk"\|"tmpfs"/);
  });

  it("leaves the start concurrency to the host unless NSLAB_START_CONCURRENCY sets it, and refuses 0", () => {
    expect(loadConfig(env(), "/opt/nslab").NSLAB_START_CONCURRENCY).toBeUndefined();
    expect(loadConfig(env({ NSLAB_START_CONCURRENCY: "4" }), "/opt/nslab").NSLAB_START_CONCURRENCY).toBe(4);
    expect(() => loadConfig(env({ NSLAB_START_CONCURRENCY: "0" }), "/opt/nslab")).toThrow(/NSLAB_START_CONCURRENCY/);
  });

  it("takes the sandboxes' first host uid from NSLAB_UID_BASE, just above sssd's range by default, and refuses one off the 65536 grid", () => {
    expect(loadConfig(env(), "/opt/nslab").NSLAB_UID_BASE).toBe(2_000_224_256);
    expect(loadConfig(env({ NSLAB_UID_BASE: String(3 * 2 ** 30) }), "/opt/nslab").NSLAB_UID_BASE).toBe(3 * 2 ** 30);
    expect(() => loadConfig(env({ NSLAB_UID_BASE: "2147483649" }), "/opt/nslab")).toThrow(/NSLAB_UID_BASE: a multiple of 65536/);
    // Its 4096 ranges would pass (uid_t)-1.
    expect(() => loadConfig(env({ NSLAB_UID_BASE: String(2 ** 32 - 65536) }), "/opt/nslab")).toThrow(/NSLAB_UID_BASE/);
  });

  it("names the variable whose value is bad", () => {
    expect(() => loadConfig(env({ NSLAB_RUN_DIR: "relative/dir" }), "/opt/nslab")).toThrow(/NSLAB_RUN_DIR/);
  });

  it("bounds sessions per learner, per address, by idleness and by lifetime by default, each switched off with 0", () => {
    expect(loadConfig(env(), "/opt/nslab")).toMatchObject({
      NSLAB_SESSIONS_PER_LEARNER: 1,
      NSLAB_SESSIONS_PER_ADDRESS: 4,
      NSLAB_IDLE_TIMEOUT_S: 1800,
      NSLAB_SESSION_LIFETIME_S: 14_400,
      NSLAB_TRUSTED_PROXIES: "",
    });
    const off = { NSLAB_SESSIONS_PER_LEARNER: "0", NSLAB_SESSIONS_PER_ADDRESS: "0", NSLAB_IDLE_TIMEOUT_S: "0", NSLAB_SESSION_LIFETIME_S: "0" };
    expect(loadConfig(env(off), "/opt/nslab")).toMatchObject({ NSLAB_SESSIONS_PER_LEARNER: 0, NSLAB_SESSIONS_PER_ADDRESS: 0, NSLAB_IDLE_TIMEOUT_S: 0, NSLAB_SESSION_LIFETIME_S: 0 });
  });

  it("refuses a bad session bound with one line naming each variable", () => {
    const bad = { NSLAB_SESSIONS_PER_LEARNER: "-1", NSLAB_SESSIONS_PER_ADDRESS: "four", NSLAB_IDLE_TIMEOUT_S: "1.5", NSLAB_SESSION_LIFETIME_S: "99999999" };
    let message = "";
    try {
      loadConfig(env(bad), "/opt/nslab");
    } catch (err) {
      message = (err as Error).message;
    }
    const lines = message.split("\n").slice(1);
    expect(lines.map((line) => line.trim().split(":")[0])).toEqual(["NSLAB_SESSIONS_PER_LEARNER", "NSLAB_SESSIONS_PER_ADDRESS", "NSLAB_IDLE_TIMEOUT_S", "NSLAB_SESSION_LIFETIME_S"]);
  });

  it("takes trusted proxies as addresses or subnets, and names a bad entry's variable", () => {
    expect(loadConfig(env({ NSLAB_TRUSTED_PROXIES: "127.0.0.1, ::1,10.0.0.0/8,fd00::/8" }), "/opt/nslab").NSLAB_TRUSTED_PROXIES).toBe("127.0.0.1, ::1,10.0.0.0/8,fd00::/8");
    for (const bad of ["proxy.local", "10.0.0.0/33", "::1/129", "10.0.0.1/8/8", "10.0.0.0/x"]) {
      expect(() => loadConfig(env({ NSLAB_TRUSTED_PROXIES: bad }), "/opt/nslab")).toThrow(/NSLAB_TRUSTED_PROXIES: comma-separated IP addresses or subnets/);
    }
  });

  it("runs as a cluster on PostgreSQL only with the node's address and the shared secrets, naming what is missing", () => {
    const url = "postgres://nslab:pw@db:5432/nslab";
    expect(() => loadConfig(env({ NSLAB_DATABASE_URL: url }), "/opt/nslab")).toThrow(/set NSLAB_NODE_ADDRESS, NSLAB_NODE_SECRET, NSLAB_INSTRUCTOR_SECRET too/);
    const full = { NSLAB_DATABASE_URL: url, NSLAB_NODE_ADDRESS: "http://10.0.3.7:3000", NSLAB_NODE_SECRET: "s".repeat(16), NSLAB_INSTRUCTOR_SECRET: "i".repeat(12) };
    expect(loadConfig(env(full), "/opt/nslab")).toMatchObject({ NSLAB_DATABASE_URL: url, NSLAB_NODE_HEARTBEAT_MS: 5000 });
    expect(() => loadConfig(env({ ...full, NSLAB_DATABASE_URL: "mysql://db/nslab" }), "/opt/nslab")).toThrow(/NSLAB_DATABASE_URL: a PostgreSQL URL/);
    expect(() => loadConfig(env({ ...full, NSLAB_NODE_ADDRESS: "10.0.3.7:3000" }), "/opt/nslab")).toThrow(/NSLAB_NODE_ADDRESS/);
    expect(() => loadConfig(env({ ...full, NSLAB_NODE_SECRET: "short" }), "/opt/nslab")).toThrow(/at least 16 characters/);
  });

  it("takes the public origins as origins, none by default, and refuses anything else in one line", () => {
    expect(loadConfig(env(), "/opt/nslab").publicOrigins).toEqual([]);
    expect(loadConfig(env({ NSLAB_PUBLIC_ORIGIN: "https://Lab.Example.org, http://10.0.3.7:3000/,https://lab.example.org:443" }), "/opt/nslab").publicOrigins).toEqual([
      "https://lab.example.org",
      "http://10.0.3.7:3000",
      "https://lab.example.org",
    ]);
    for (const bad of ["lab.example.org", "ftp://lab.example.org", "https://lab.example.org/lab", "https://lab.example.org/?x", "https://user@lab.example.org", "https://"]) {
      let message = "";
      try {
        loadConfig(env({ NSLAB_PUBLIC_ORIGIN: bad }), "/opt/nslab");
      } catch (err) {
        message = (err as Error).message;
      }
      expect(message.split("\n").slice(1), bad).toEqual([expect.stringMatching(/^ {2}NSLAB_PUBLIC_ORIGIN: comma-separated origins such as https:\/\/lab\.example\.org .*no path\)$/)]);
    }
    expect(() => loadConfig(env({ NSLAB_ALLOWED_ORIGINS: "https://course.example.org/page" }), "/opt/nslab")).toThrow(/NSLAB_ALLOWED_ORIGINS: comma-separated origins/);
  });
  it("takes an operator token of at least 24 characters, none by default, and says how long one must be", () => {
    expect(loadConfig(env(), "/opt/nslab").NSLAB_OPERATOR_TOKEN).toBeUndefined();
    const token = "0123456789abcdef01234567";
    expect(loadConfig(env({ NSLAB_OPERATOR_TOKEN: token }), "/opt/nslab").NSLAB_OPERATOR_TOKEN).toBe(token);
    expect(() => loadConfig(env({ NSLAB_OPERATOR_TOKEN: token.slice(1) }), "/opt/nslab")).toThrow(/^invalid environment:\n {2}NSLAB_OPERATOR_TOKEN: the operator token must be at least 24 characters/);
  });

  it("takes LOG_LEVEL as one of pino's levels or silent, and names it in one line otherwise", () => {
    for (const level of ["trace", "debug", "info", "warn", "error", "fatal", "silent"]) {
      expect(loadConfig(env({ LOG_LEVEL: level }), "/opt/nslab").LOG_LEVEL).toBe(level);
    }
    expect(loadConfig(env(), "/opt/nslab").LOG_LEVEL).toBeUndefined();
    let message = "";
    try {
      loadConfig(env({ LOG_LEVEL: "verbose" }), "/opt/nslab");
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message.split("\n").slice(1)).toEqual([expect.stringMatching(/^ {2}LOG_LEVEL: .*"trace".*"silent"/)]);
  });

  it("takes the lab's default limits in docker's syntax, memory alone bringing no swap", () => {
    expect(loadConfig(env(), "/opt/nslab").defaultLimits).toEqual({ memoryBytes: 256 * 2 ** 20, memorySwapBytes: 256 * 2 ** 20, cpus: 0.5, pids: 100 });
    expect(loadConfig(env({ NSLAB_MEMORY: "512m", NSLAB_CPUS: "1", NSLAB_PIDS_LIMIT: "-1" }), "/opt/nslab").defaultLimits).toEqual({
      memoryBytes: 512 * 2 ** 20,
      memorySwapBytes: 512 * 2 ** 20,
      cpus: 1,
      pids: -1,
    });
    expect(loadConfig(env({ NSLAB_MEMORY: "512m", NSLAB_MEMORY_SWAP: "1g" }), "/opt/nslab").defaultLimits).toMatchObject({ memorySwapBytes: 2 ** 30 });
    expect(loadConfig(env({ NSLAB_MEMORY_SWAP: "-1" }), "/opt/nslab").defaultLimits).toMatchObject({ memoryBytes: 256 * 2 ** 20, memorySwapBytes: -1 });
  });

  it("names each bad limit setting in a line of its own, with the rest of the bad settings", () => {
    const lines = (settings: Record<string, string>) => {
      try {
        loadConfig(env(settings), "/opt/nslab");
      } catch (err) {
        return (err as Error).message.split("\n");
      }
      return [];
    };
    expect(lines({ NSLAB_MEMORY: "lots", NSLAB_CPUS: "half", PORT: "70000" })).toEqual([
      "invalid environment:",
      expect.stringMatching(/^ {2}PORT: /),
      "  NSLAB_MEMORY: 'lots': Not a size: write a number with an optional unit, like 64m or 1g.",
      "  NSLAB_CPUS: 'half': Not a number of CPUs: write one like 0.5 or 2.",
    ]);
    // Each well formed, but not together, or not on this host.
    expect(lines({ NSLAB_MEMORY: "1g", NSLAB_MEMORY_SWAP: "512m" })).toEqual([
      "invalid environment:",
      "  NSLAB_MEMORY_SWAP: --memory-swap is memory plus swap, so it cannot be below --memory (equal means no swap, -1 unlimited).",
    ]);
    expect(lines({ NSLAB_MEMORY: "4m" })).toEqual(["invalid environment:", "  NSLAB_MEMORY: The minimum memory limit is 6m."]);
    expect(lines({ NSLAB_CPUS: "100000" })[1]).toMatch(/^ {2}NSLAB_CPUS: CPUs range from 0\.01 to \d+\.00 on this host\.$/);
    expect(lines({ NSLAB_PIDS_LIMIT: "0" })[1]).toBe("  NSLAB_PIDS_LIMIT: The pids limit is a number from 1 to 4194304, or -1 for none.");
  });
});
