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

  it("leaves the start concurrency to the host unless NSLAB_START_CONCURRENCY sets it, and refuses 0", () => {
    expect(loadConfig(env(), "/opt/nslab").NSLAB_START_CONCURRENCY).toBeUndefined();
    expect(loadConfig(env({ NSLAB_START_CONCURRENCY: "4" }), "/opt/nslab").NSLAB_START_CONCURRENCY).toBe(4);
    expect(() => loadConfig(env({ NSLAB_START_CONCURRENCY: "0" }), "/opt/nslab")).toThrow(/NSLAB_START_CONCURRENCY/);
  });

  it("names the variable whose value is bad", () => {
    expect(() => loadConfig(env({ NSLAB_RUN_DIR: "relative/dir" }), "/opt/nslab")).toThrow(/NSLAB_RUN_DIR/);
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
});
