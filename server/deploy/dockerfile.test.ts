// The Dockerfile without an engine: linted (dockerfile-utils, the checks a Dockerfile editor
// runs), read for what each stage must and must not hold, and its runtime stage's tree made as
// the stages make it — the sources as `COPY . .` takes them, this checkout's builds, then the
// build stage's last RUN, word for word, but `next build` (the one npm test made is taken) —
// and started there with the runtime's CMD: nothing rebuilt, the development packages gone,
// a learner's session served.
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";

import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { hostCgroupDriver } from "../sandbox/cgroup";
import { PROJECT_ROOT, sandboxUnavailable } from "../testing/kernel";
import { LabClient, learnerCookie } from "../testing/lab-client";
// @ts-expect-error: plain JS run by the setup scripts, without type declarations
import { IMAGE_TOOL_PACKAGES } from "../../native/rootfs.mjs";

const DOCKERFILE = path.join(PROJECT_ROOT, "Dockerfile");
const NEXT_DIR = path.join(PROJECT_ROOT, process.env.NSLAB_NEXT_DIR || ".next");
const nextBuilt = fs.existsSync(path.join(NEXT_DIR, "BUILD_ID"));
const unavailable = sandboxUnavailable();

interface Instruction {
  keyword: string;
  args: string;
}
interface Stage {
  base: string;
  name: string;
  instructions: Instruction[];
}

/** The stages of a Dockerfile: its instructions with continuation lines joined, comments out. */
function stagesOf(text: string): Stage[] {
  const stages: Stage[] = [];
  let pending = "";
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (pending === "" && (line === "" || line.startsWith("#"))) continue;
    if (line.startsWith("#")) continue;
    if (line.endsWith("\\")) {
      pending += `${line.slice(0, -1)} `;
      continue;
    }
    const whole = (pending + line).trim();
    pending = "";
    const [keyword = "", ...rest] = whole.split(/\s+/);
    const args = rest.join(" ");
    if (keyword.toUpperCase() === "FROM") {
      const [base = "", , name = ""] = rest;
      stages.push({ base, name, instructions: [] });
    } else {
      stages.at(-1)?.instructions.push({ keyword: keyword.toUpperCase(), args });
    }
  }
  return stages;
}

/** The packages of a stage's `apt-get install` lines. */
function aptPackages(stage: Stage): string[] {
  return stage.instructions
    .filter((i) => i.keyword === "RUN")
    .flatMap((i) => [...i.args.matchAll(/apt-get install ([^&]*)/g)].flatMap((m) => (m[1] ?? "").split(/\s+/).filter((w) => w !== "" && !w.startsWith("-"))));
}

const stages = stagesOf(fs.readFileSync(DOCKERFILE, "utf8"));
const build = stages.find((s) => s.name === "build");
const runtime = stages.at(-1);

describe("the Dockerfile", () => {
  it("lints clean: no error and no warning", () => {
    const lint = spawnSync(path.join(PROJECT_ROOT, "node_modules/.bin/dockerfile-utils"), ["lint", DOCKERFILE], { encoding: "utf8" });
    expect(lint.stdout + lint.stderr).toBe("");
    expect(lint.status).toBe(0);
  });

  it("builds in a stage of its own and runs from a slim one with no compiler", () => {
    expect(stages.map((s) => s.name)).toEqual(["build", "runtime"]);
    // The native addons and the launcher are built in one and run in the other: the same Node
    // major and the same Debian release (the same C library) on both sides.
    const [buildBase, runtimeBase] = [build?.base ?? "", runtime?.base ?? ""];
    expect(runtimeBase).toBe(buildBase.replace(/^(node:\d+-\w+)$/, "$1-slim"));
    expect(runtimeBase).toMatch(/^node:\d+-\w+-slim$/);

    const installed = aptPackages(runtime as Stage);
    // What the sandbox image is made of at start, a writable layer's mkfs.ext4, and PID 1.
    expect(installed).toEqual(expect.arrayContaining([...(IMAGE_TOOL_PACKAGES as string[]), "e2fsprogs", "tini"]));
    for (const tool of ["gcc", "g++", "make", "python3", "libc6-dev", "build-essential"]) expect(installed).not.toContain(tool);
    // Nothing of the build stage but the application's directory.
    const copies = runtime?.instructions.filter((i) => i.keyword === "COPY") ?? [];
    expect(copies.map((c) => c.args)).toEqual(["--from=build /opt/nslab /opt/nslab"]);
    expect(build?.instructions).toContainEqual({ keyword: "WORKDIR", args: "/opt/nslab" });
    expect(runtime?.instructions).toContainEqual({ keyword: "ENTRYPOINT", args: '["tini", "--"]' });
    expect(runtime?.instructions).toContainEqual({ keyword: "CMD", args: '["node", "scripts/start.mjs"]' });
    expect(runtime?.instructions).toContainEqual({ keyword: "VOLUME", args: '["/var/lib/nslab"]' });
  });

  it("copies into the build stage only files that exist, and leaves out what it builds itself", () => {
    for (const copy of build?.instructions.filter((i) => i.keyword === "COPY") ?? []) {
      const sources = copy.args.split(/\s+/).slice(0, -1);
      for (const source of sources) expect(fs.existsSync(path.join(PROJECT_ROOT, source)), `COPY ${source}`).toBe(true);
    }
    const ignored = fs.readFileSync(path.join(PROJECT_ROOT, ".dockerignore"), "utf8").split("\n").map((l) => l.trim()).filter(Boolean);
    expect(ignored).toEqual(expect.arrayContaining(["node_modules", ".next", "build", "dist", ".git"]));
  });
});

describe.skipIf(!nextBuilt || unavailable !== null)(
  `the runtime stage's tree, made without an engine${!nextBuilt ? " (skipped: the web app is not built; run next build)" : unavailable ? ` (skipped: ${unavailable})` : ""}`,
  () => {
    const NAME = `dockerfile-${process.pid}`;
    const APP = path.join("/var/tmp", `nslab-test-${NAME}`, "opt-nslab");
    const DATA = path.join("/var/tmp", `nslab-test-${NAME}`, "data");
    const RUN_DIR = `/run/nslab-test-${NAME}`;
    const CGROUP_PARENT = `/nslab-test-${NAME}`;
    // What a build stage's shell has: none of the npm_* settings of the npm that runs the tests
    // (npm exec and npm test pass theirs on, and npm prune would take them as its own).
    const outer = Object.fromEntries(Object.entries(process.env).filter(([name]) => !/^npm_/i.test(name)));
    const env = {
      ...outer,
      NODE_ENV: "production",
      NEXT_TELEMETRY_DISABLED: "1",
      NSLAB_NO_APT: "1",
      NSLAB_NEXT_DIR: undefined,
      PORT: "0",
      HOST: "127.0.0.1",
      LOG_LEVEL: "info",
      NSLAB_RUN_DIR: RUN_DIR,
      NSLAB_CGROUP_PARENT: CGROUP_PARENT,
      NSLAB_DATA_DIR: DATA,
      NSLAB_ROOTFS: path.join(DATA, "rootfs"),
      NSLAB_MAX_SESSIONS: "2",
    };
    let server: ChildProcess;
    let output = "";
    let exit: { code: number | null; signal: NodeJS.Signals | null } | null = null;
    let url = "";

    /** `from` into the tree at `to`, dates kept: a copy, or for the big trees nothing in the
     *  stages writes into (they only remove from node_modules, and write dist/ by renames) hard
     *  links where both are on one filesystem. npm rewrites package.json and package-lock.json
     *  in place: a link would let the stage's npm prune change this checkout's. */
    const place = (from: string, to: string, { link = false } = {}) => {
      fs.mkdirSync(path.dirname(to), { recursive: true });
      if (link && spawnSync("cp", ["-al", from, to]).status === 0) return;
      expect(spawnSync("cp", ["-a", from, to]).status).toBe(0);
    };

    async function waitUntil(condition: () => boolean, what: string): Promise<void> {
      for (let turn = 0; turn < 3_000; turn++) {
        if (condition()) return;
        await new Promise((r) => setTimeout(r, 20));
      }
      throw new Error(`gave up waiting for ${what}; the runtime printed:\n${output}`);
    }

    beforeAll(async () => {
      // COPY . . : the checkout's files, less what .dockerignore leaves out (git tracks none of it).
      const tracked = spawnSync("git", ["ls-files", "-z"], { cwd: PROJECT_ROOT, encoding: "utf8" }).stdout.split("\0").filter(Boolean);
      expect(tracked.length).toBeGreaterThan(100);
      for (const file of tracked) if (fs.existsSync(path.join(PROJECT_ROOT, file))) place(path.join(PROJECT_ROOT, file), path.join(APP, file));
      // What the build stage's npm ci and setup made, as this checkout's npm install made them,
      // and the web app npm test built.
      for (const dir of ["node_modules", "build", "dist"]) place(path.join(PROJECT_ROOT, dir), path.join(APP, dir), { link: true });
      place(NEXT_DIR, path.join(APP, ".next"), { link: true });
      // npm rewrites its record of the tree: a copy of its own, not a link to this checkout's.
      const record = path.join(APP, "node_modules", ".package-lock.json");
      if (fs.existsSync(record)) {
        fs.rmSync(record);
        fs.copyFileSync(path.join(PROJECT_ROOT, "node_modules", ".package-lock.json"), record);
      }
      fs.rmSync(path.join(APP, ".next", "cache"), { recursive: true, force: true });

      // The build stage's last RUN, each command as written, but the web app's build. Its setup
      // makes a sandbox image of its own, left behind with the stage as in a real build.
      const buildEnv = { ...env, NSLAB_ROOTFS: path.join(path.dirname(APP), "build-stage-rootfs") };
      const last = build?.instructions.filter((i) => i.keyword === "RUN").at(-1)?.args ?? "";
      const commands = last.split("&&").map((c) => c.trim()).filter((c) => c !== "npx next build");
      expect(commands).toEqual(expect.arrayContaining(["node scripts/setup.mjs", "rm -rf .next/cache"]));
      expect(commands.some((c) => c.startsWith("npm prune --omit=dev"))).toBe(true);
      for (const command of commands) {
        const r = spawnSync("sh", ["-c", command], { cwd: APP, env: buildEnv as NodeJS.ProcessEnv, encoding: "utf8", timeout: 300_000 });
        expect(r.status, `${command}: ${r.stderr}`).toBe(0);
      }

      // The runtime's CMD, from its WORKDIR.
      server = spawn("node", ["scripts/start.mjs"], { cwd: APP, env: env as NodeJS.ProcessEnv, stdio: ["ignore", "pipe", "pipe"] });
      server.stdout?.setEncoding("utf8").on("data", (chunk: string) => (output += chunk));
      server.stderr?.setEncoding("utf8").on("data", (chunk: string) => (output += chunk));
      server.on("exit", (code, signal) => (exit = { code, signal }));
      await waitUntil(() => exit !== null || /"msg":"nslab listening"/.test(output), "the runtime to listen");
      if (exit) throw new Error(`the runtime exited (${JSON.stringify(exit)}):\n${output}`);
      const listening = output.split("\n").find((line) => line.includes('"msg":"nslab listening"')) ?? "";
      url = (JSON.parse(listening) as { url: string }).url;
    }, 600_000);

    afterAll(async () => {
      if (server && exit === null) {
        server.kill("SIGTERM");
        await waitUntil(() => exit !== null, "the runtime to exit").catch(() => server.kill("SIGKILL"));
      }
      const found = hostCgroupDriver(CGROUP_PARENT);
      if ("driver" in found) for (const parent of Object.values(found.driver.parents)) if (fs.existsSync(parent)) fs.rmdirSync(parent);
      fs.rmSync(RUN_DIR, { recursive: true, force: true });
      fs.rmSync(path.dirname(APP), { recursive: true, force: true });
    });

    it("holds no development package, and rebuilt nothing but the sandbox image", () => {
      // Every package the lock file records as needed only for development. (Playwright stays:
      // it is an optional peer of next, which npm keeps wherever it is installed.)
      const lock = JSON.parse(fs.readFileSync(path.join(PROJECT_ROOT, "package-lock.json"), "utf8")) as { packages: Record<string, { dev?: boolean }> };
      const devOnly = Object.entries(lock.packages).filter(([where, entry]) => where !== "" && entry.dev).map(([where]) => where);
      expect(devOnly).toEqual(expect.arrayContaining(["node_modules/vitest", "node_modules/typescript", "node_modules/tsx"]));
      expect(devOnly.filter((where) => fs.existsSync(path.join(APP, where)))).toEqual([]);
      // Nothing installed them back at the start (Next once did, to read a next.config.ts), and
      // the manifest is as the checkout has it.
      expect(fs.readFileSync(path.join(APP, "package.json"), "utf8")).toBe(fs.readFileSync(path.join(PROJECT_ROOT, "package.json"), "utf8"));
      // What the runtime needs is all there: the server served a session with it (below).
      expect(fs.existsSync(path.join(APP, ".next", "cache"))).toBe(false);
      expect(output).not.toMatch(/compiled server\/|building the web app|built build\//);
      expect(output).toContain("nslab setup: sandbox image built");
    });

    it("serves the lesson and a learner's sandbox, and ends on SIGTERM with status 0", async () => {
      const health = (await (await fetch(`${url}/healthz`)).json()) as { ready: boolean };
      expect(health.ready).toBe(true);
      const page = await fetch(`${url}/lessons/containers-vs-vms`);
      expect(page.status).toBe(200);
      expect(await page.text()).toContain("Containers vs VMs");

      const client = new LabClient(`${url.replace(/^http/, "ws")}/ws`, learnerCookie("d0c7e2f1d0c7e2f1d0c7e2f1d0c7e2f1"));
      await client.start();
      expect(await client.run("echo from-the-runtime-stage")).toBe("from-the-runtime-stage");
      client.close();
      await client.closed();

      server.kill("SIGTERM");
      await waitUntil(() => exit !== null, "the runtime to exit");
      expect(exit).toEqual({ code: 0, signal: null });
    });
  },
);
