// The servers a WebSocket benchmark talks to, each a child process of its own so that its CPU
// time and memory can be read from /proc and the bench's own clients do not share its event
// loop: a real nslab server (the compiled dist/server.mjs that `npm start` runs, production
// settings, its own run directory and cgroup parent) and the peer (bench/peer/server.ts).
//
// stop() ends a server with SIGTERM, as systemd would, and then checks that nothing of it is
// left: no session cgroup under the bench's parent, no process in those cgroups, started from
// its run directory or running below the server when it was told to stop. What it finds is
// reported, then removed, so one failed run does not spoil the next.
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { performance } from "node:perf_hooks";

import { z } from "zod";

import { hostCgroupLayout } from "../../server/sandbox/cgroup";
import { CgroupV1Driver } from "../../server/sandbox/cgroup/v1";
import { CgroupV2Driver } from "../../server/sandbox/cgroup/v2";
import { freePort } from "../../server/testing/free-port";
import { BENCH_DIR } from "./stats";
// @ts-expect-error: a plain JavaScript module of the build, without types
import { SERVER_DIST, compileServer, serverBuildIsFresh } from "../../scripts/build-server.mjs";

const PROJECT_ROOT = path.resolve(BENCH_DIR, "..");
const READY_TIMEOUT_MS = 120_000;

/** What was left after a server stopped (all empty when it cleaned up after itself). */
export interface Leftovers {
  /** How the process ended: its exit code, or the signal that killed it. */
  exit: string;
  /** From SIGTERM to the process being gone. */
  stopMs: number;
  /** Session cgroup directories still under the bench's parent (in any hierarchy). */
  cgroupDirs: string[];
  /** Processes still in those cgroups, started from the server's run directory, or that ran
   *  below the server when it was told to stop (its helpers, launchers and shells). */
  pids: number[];
}

export interface ServerProcess {
  readonly pid: number;
  readonly port: number;
  /** ws://127.0.0.1:<port>/ws */
  readonly url: string;
  /** Where the server's stdout and stderr went. */
  readonly logFile: string;
  stop(): Promise<Leftovers>;
}

export interface LabServerProcess extends ServerProcess {
  readonly runDir: string;
  /** The cgroup parent, relative to each hierarchy's root (NSLAB_CGROUP_PARENT). */
  readonly cgroupParent: string;
  /** The parent's directory in each hierarchy (one on cgroup v2). */
  readonly parentDirs: string[];
  healthz(): Promise<Healthz>;
  /** Session cgroups under the parent now (the most over the hierarchies), not counting those
   *  the server prepared ahead of a start (by their CPU usage: nothing ever ran in them). */
  sessionCgroupCount(): number;
  /** Every session cgroup under the parent now, those prepared ahead too: for a count of what
   *  is left, less the number the server says it keeps ready (/healthz). */
  allSessionCgroupCount(): number;
  /** Processes in the session cgroups or started from the run directory, now. */
  sandboxPids(): number[];
  /** The server's error lines so far (level error and above), as "message: err", oldest first. */
  errorLines(): string[];
}

/** The parts of GET /healthz a bench reads. */
const Healthz = z.object({
  ready: z.boolean(),
  sessions: z.object({ live: z.number(), attached: z.number(), detached: z.number(), capacity: z.number() }),
  starts: z.object({ ready: z.number() }).nullable(),
});
export type Healthz = z.infer<typeof Healthz>;

export interface LabServerOptions {
  /** NSLAB_MAX_SESSIONS (default 1100: room for the largest load run and a join wave). */
  maxSessions?: number;
  /** Told apart in the run directory's and cgroup parent's names when a bench starts several. */
  tag?: string;
  /** More environment (LOG_LEVEL, …). */
  env?: Record<string, string>;
  /** Options for node itself, before the server's module (`--cpu-prof` to see where time goes). */
  nodeArgs?: string[];
}

/** GET a JSON body on a connection of its own: a kept-alive one that the server closed while
 *  idle (its keep-alive timeout is 5 s) would fail the next request now and then. */
function getJson(url: string, headers: Record<string, string>): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent: false, timeout: 30_000, headers }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => (body += chunk));
      res.on("end", () => {
        try {
          resolve(JSON.parse(body));
        } catch (err) {
          reject(err);
        }
      });
      res.on("error", reject);
    });
    req.on("timeout", () => req.destroy(new Error(`GET ${url} timed out`)));
    req.on("error", reject);
  });
}

function readOr(file: string): string {
  try {
    return fs.readFileSync(file, "utf8");
  } catch {
    return "";
  }
}

function tail(file: string, lines = 20): string {
  return readOr(file).trimEnd().split("\n").slice(-lines).join("\n");
}

function exited(child: ChildProcess): Promise<string> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.signalCode ?? String(child.exitCode));
  return new Promise((resolve) => child.once("exit", (code, signal) => resolve(signal ?? String(code))));
}

/** SIGTERM, and SIGKILL if the process is still there after `graceMs`. */
export async function terminate(child: ChildProcess, graceMs: number): Promise<{ exit: string; stopMs: number }> {
  const t0 = performance.now();
  const done = exited(child);
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
  const exit = await done;
  clearTimeout(timer);
  return { exit, stopMs: performance.now() - t0 };
}

/** Where session cgroups of `parent` go on this host, one directory per hierarchy. */
export function cgroupParentDirs(parent: string): string[] {
  const layout = hostCgroupLayout();
  // With the hierarchies it only joins (cpuset, freezer, name=systemd, ...): their parents are
  // the server's too.
  if (layout.version === 1) return Object.values(new CgroupV1Driver(layout.hierarchies, parent, layout.unmanaged).parents);
  if (layout.version === 2) return Object.values(new CgroupV2Driver(layout.mountPoint, layout.ownPath, parent).parents);
  throw new Error(`no cgroups to run sandboxes in: ${layout.reason}`);
}

export function childDirs(dir: string): string[] {
  try {
    return fs.readdirSync(dir, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => path.join(dir, e.name));
  } catch {
    return [];
  }
}

/** Processes whose cgroup (in any hierarchy) is the parent or below it, or whose command line
 *  names the run directory (the launcher, outside its sandbox's cgroup until it moves it). */
export function processesOf(cgroupParent: string, runDir: string): number[] {
  const found: number[] = [];
  for (const entry of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cgroups = fs.readFileSync(`/proc/${entry}/cgroup`, "utf8");
      const inParent = cgroups.split("\n").some((line) => {
        const where = line.slice(line.indexOf(":", line.indexOf(":") + 1) + 1);
        return where === cgroupParent || where.startsWith(`${cgroupParent}/`);
      });
      if (inParent || fs.readFileSync(`/proc/${entry}/cmdline`, "utf8").includes(runDir)) found.push(Number(entry));
    } catch {
      // It exited while we looked.
    }
  }
  return found;
}

/** A process as /proc has it: its parent, and its start time (so a reused pid is told apart). */
export interface ProcEntry {
  pid: number;
  ppid: number;
  startTime: string;
}

function procTable(): ProcEntry[] {
  const table: ProcEntry[] = [];
  for (const entry of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, "utf8");
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      if (fields[0] !== "Z") table.push({ pid: Number(entry), ppid: Number(fields[1]), startTime: fields[19] ?? "" });
    } catch {
      // It exited while we looked.
    }
  }
  return table;
}

/** Every process below `pid` now (the server's helpers, launchers, shells). */
export function descendantsOf(pid: number): ProcEntry[] {
  const table = procTable();
  const found: ProcEntry[] = [];
  const parents = new Set([pid]);
  for (let grew = true; grew; ) {
    grew = false;
    for (const p of table) {
      if (parents.has(p.ppid) && !parents.has(p.pid)) {
        parents.add(p.pid);
        found.push(p);
        grew = true;
      }
    }
  }
  return found;
}

/** Those of `entries` still running (same pid, same start time). */
export function stillRunning(entries: readonly ProcEntry[]): number[] {
  const now = new Map(procTable().map((p) => [p.pid, p.startTime]));
  return entries.filter((e) => now.get(e.pid) === e.startTime).map((e) => e.pid);
}

/** Live processes in any of the given sessions (setsid(2); field 6 of /proc/<pid>/stat). */
export function processesInSessions(sessionIds: readonly number[]): number[] {
  const wanted = new Set(sessionIds);
  const found: number[] = [];
  if (wanted.size === 0) return found;
  for (const entry of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, "utf8");
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      if (fields[0] !== "Z" && wanted.has(Number(fields[3]))) found.push(Number(entry));
    } catch {
      // It exited while we looked.
    }
  }
  return found;
}

export async function startLabServer(options: LabServerOptions = {}): Promise<LabServerProcess> {
  const name = `nslab-bench-${process.pid}${options.tag ? `-${options.tag}` : ""}`;
  const runDir = `/run/${name}`;
  const cgroupParent = `/${name}`;
  const parentDirs = cgroupParentDirs(cgroupParent);
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), `${name}-data-`));
  const logFile = path.join(dataDir, "server.log");
  const port = await freePort();
  const logFd = fs.openSync(logFile, "a");
  // /healthz tells the sandboxes prepared ahead (`starts`) only to the operator.
  const operatorToken = randomBytes(24).toString("hex");
  // A file, not a pipe: a pipe nobody drains would stop the server at its next log line.
  // What production runs, built first if a source changed since the last build.
  if (!serverBuildIsFresh()) compileServer();
  // NSLAB_BENCH_SERVER_NODE_ARGS (space-separated) reaches the server of any bench without a
  // change to the script: `--cpu-prof --cpu-prof-dir=/tmp/prof`, an `--import` of a monitor.
  const extraNodeArgs = (process.env.NSLAB_BENCH_SERVER_NODE_ARGS ?? "").split(" ").filter(Boolean);
  const child = spawn(process.execPath, [...extraNodeArgs, ...(options.nodeArgs ?? []), "--enable-source-maps", path.join(SERVER_DIST, "server.mjs")], {
    cwd: PROJECT_ROOT,
    stdio: ["ignore", logFd, logFd],
    env: {
      ...process.env,
      NODE_ENV: "production",
      PORT: String(port),
      HOST: "127.0.0.1",
      NSLAB_RUN_DIR: runDir,
      NSLAB_CGROUP_PARENT: cgroupParent,
      NSLAB_MAX_SESSIONS: String(options.maxSessions ?? 1100),
      // Every client of a run is this machine, each without a cookie: no bound per address
      // or per learner, which would stop a load run at its fifth sandbox.
      NSLAB_SESSIONS_PER_ADDRESS: "0",
      NSLAB_SESSIONS_PER_LEARNER: "0",
      NSLAB_RECONNECT_GRACE_S: "0",
      NSLAB_DATA_DIR: dataDir,
      NSLAB_OPERATOR_TOKEN: operatorToken,
      ...options.env,
    },
  });
  fs.closeSync(logFd);
  const pid = child.pid;
  if (pid === undefined) throw new Error("the nslab server could not be spawned");
  const base = `http://127.0.0.1:${port}`;

  const healthz = async () => Healthz.parse(await getJson(`${base}/healthz`, { authorization: `Bearer ${operatorToken}` }));

  // A server that never became ready may still have made its run directory and cgroups (it
  // prepares sandboxes ahead before it loads the pages): gone with it, with its data directory,
  // so a failed start leaves nothing either.
  const failStart = async (why: string): Promise<never> => {
    const message = `${why}:\n${tail(logFile)}`;
    await terminate(child, 5_000);
    await removeServerDirs(parentDirs, runDir);
    fs.rmSync(dataDir, { recursive: true, force: true });
    throw new Error(message);
  };
  const deadline = performance.now() + READY_TIMEOUT_MS;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) await failStart("the nslab server exited before it was ready");
    const health = await healthz().catch(() => null);
    if (health?.ready) break;
    if (health && !health.ready) await failStart("the nslab server runs without sandboxes on this host");
    if (performance.now() > deadline) await failStart(`the nslab server was not ready within ${READY_TIMEOUT_MS / 1000} s`);
    await new Promise((r) => setTimeout(r, 100));
  }

  const errorLines = () => {
    const lines: string[] = [];
    for (const line of readOr(logFile).split("\n")) {
      if (!line.startsWith("{")) continue;
      try {
        const entry: unknown = JSON.parse(line);
        if (typeof entry !== "object" || entry === null) continue;
        const { level, msg, err } = entry as { level?: unknown; msg?: unknown; err?: unknown };
        if (typeof level === "number" && level >= 50) lines.push(`${String(msg)}${err === undefined ? "" : `: ${String(err)}`}`);
      } catch {
        // Not one of the logger's lines (Next prints some of its own).
      }
    }
    return lines;
  };
  const sessionCgroupCount = () => {
    const prepared = preparedAhead(parentDirs);
    return Math.max(0, ...parentDirs.map((dir) => childDirs(dir).filter((d) => !prepared.has(path.basename(d))).length));
  };
  const allSessionCgroupCount = () => Math.max(0, ...parentDirs.map((dir) => childDirs(dir).length));
  const sandboxPids = () => processesOf(cgroupParent, runDir);

  let stopping: Promise<Leftovers> | null = null;
  const stop = async (): Promise<Leftovers> => {
    // Ending a thousand sandboxes takes a while; a server still at it after a minute is stuck.
    const children = descendantsOf(pid);
    const { exit, stopMs } = await terminate(child, 60_000);
    const leftovers: Leftovers = {
      exit,
      stopMs,
      cgroupDirs: parentDirs.flatMap(childDirs),
      pids: [...new Set([...sandboxPids(), ...stillRunning(children)])],
    };
    // Whatever the server left is removed here, deepest first, so the next run starts clean.
    for (const pid of leftovers.pids) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // gone already
      }
    }
    await removeTrees(parentDirs);
    fs.rmSync(runDir, { recursive: true, force: true });
    if (process.env.NSLAB_BENCH_KEEP_LOGS !== "1") fs.rmSync(dataDir, { recursive: true, force: true });
    return leftovers;
  };

  return {
    pid,
    port,
    url: `ws://127.0.0.1:${port}/ws`,
    logFile,
    runDir,
    cgroupParent,
    parentDirs,
    healthz,
    sessionCgroupCount,
    allSessionCgroupCount,
    sandboxPids,
    errorLines,
    stop: () => (stopping ??= stop()),
  };
}

/**
 * Session cgroups the server prepared ahead of a start (SandboxHost's ready sandboxes): nothing
 * has ever run in them, so their CPU usage is 0 (cpuacct.usage on v1, usage_usec in cpu.stat on
 * v2). They are the server's stock, not sessions, and not left over when every page is closed.
 */
function preparedAhead(parentDirs: readonly string[]): Set<string> {
  const names = new Set<string>();
  for (const dir of parentDirs.flatMap(childDirs)) {
    const v1 = readOr(path.join(dir, "cpuacct.usage")).trim();
    const v2 = /^usage_usec (\d+)$/m.exec(readOr(path.join(dir, "cpu.stat")))?.[1];
    if (v1 === "0" || (v1 === "" && v2 === "0")) names.add(path.basename(dir));
  }
  return names;
}

/** What a server that did not start left: its cgroup parents with what is below them, the
 *  helpers' cgroup beside each (`<parent>-helpers`, which a server removes when it stops), and
 *  its run directory. Nothing runs in them: the server made them and exited. */
async function removeServerDirs(parentDirs: readonly string[], runDir: string): Promise<void> {
  await removeTrees(parentDirs.flatMap((dir) => [dir, `${dir}-helpers`]));
  fs.rmSync(runDir, { recursive: true, force: true });
}

/** rmdir a cgroup directory and every one below it (cgroupfs removes only empty directories,
 *  and a directory's files go with it). */
function removeTree(dir: string): void {
  for (const child of childDirs(dir)) removeTree(child);
  try {
    fs.rmdirSync(dir);
  } catch {
    // Still busy: the caller tries again.
  }
}

/** removeTree for each of `dirs`, again every 20 ms while any is there, for up to a second: a
 *  cgroup whose last process was just killed stays busy until the kernel has reaped it. */
export async function removeTrees(dirs: readonly string[]): Promise<void> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const remaining = dirs.filter((dir) => fs.existsSync(dir));
    if (remaining.length === 0) break;
    for (const dir of remaining) removeTree(dir);
    await new Promise((r) => setTimeout(r, 20));
  }
}

export interface PeerServerProcess extends ServerProcess {
  /** Shells the peer started, as its session.ready frames named them (for the leftover check). */
  readonly shellPids: number[];
}

/** The startup files a sandbox's shell reads (the image's /root), for the peer's shells: the
 *  comparison is of servers, not of dotfiles, and this host's own (pyenv and the like) can take
 *  seconds. Without an image, a new Debian account's (/etc/skel). */
function peerHome(dir: string): string {
  const home = path.join(dir, "home");
  fs.mkdirSync(home);
  const image = path.join(process.env.NSLAB_ROOTFS ?? "/var/lib/nslab/rootfs", "root");
  const from = fs.existsSync(path.join(image, ".bashrc")) ? image : "/etc/skel";
  for (const file of [".bashrc", ".profile"]) {
    if (fs.existsSync(path.join(from, file))) fs.copyFileSync(path.join(from, file), path.join(home, file));
  }
  return home;
}

export async function startPeerServer(): Promise<PeerServerProcess> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `nslab-bench-peer-${process.pid}-`));
  const logFile = path.join(dir, "peer.log");
  const logFd = fs.openSync(logFile, "a");
  const child = spawn(process.execPath, ["--import", "tsx", "bench/peer/server.ts"], {
    cwd: PROJECT_ROOT,
    stdio: ["ignore", "pipe", logFd],
    env: { ...process.env, PORT: "0", HOME: peerHome(dir) },
  });
  fs.closeSync(logFd);
  const pid = child.pid;
  if (pid === undefined || !child.stdout) throw new Error("the peer server could not be spawned");
  const port = await new Promise<number>((resolve, reject) => {
    let text = "";
    const timer = setTimeout(() => reject(new Error(`the peer server did not listen within 30 s:\n${tail(logFile)}`)), 30_000);
    child.stdout?.on("data", (chunk: Buffer) => {
      text += chunk.toString("utf8");
      const line = /^\{.*\}$/m.exec(text)?.[0];
      if (!line) return;
      clearTimeout(timer);
      const value: unknown = JSON.parse(line);
      const port = typeof value === "object" && value !== null ? (value as { port?: unknown }).port : undefined;
      if (typeof port === "number" && port > 0) resolve(port);
      else reject(new Error(`the peer server printed ${line}`));
    });
    child.once("exit", () => reject(new Error(`the peer server exited before listening:\n${tail(logFile)}`)));
  });
  // Drained from here on, so nothing it prints can block it.
  child.stdout.resume();
  const shellPids: number[] = [];
  let stopping: Promise<Leftovers> | null = null;
  const stop = async (): Promise<Leftovers> => {
    const children = descendantsOf(pid);
    const { exit, stopMs } = await terminate(child, 10_000);
    // The shells get SIGHUP when their terminal's master closes with the peer; a moment for
    // that. Each shell leads a session of its own (its terminal's), so what it started (a
    // `yes`) is found by session id.
    const deadline = performance.now() + 2_000;
    const left = () => [...new Set([...processesInSessions(shellPids), ...stillRunning(children)])];
    while (left().length > 0 && performance.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    const pids = left();
    for (const p of pids) {
      try {
        process.kill(p, "SIGKILL");
      } catch {
        // gone already
      }
    }
    fs.rmSync(dir, { recursive: true, force: true });
    return { exit, stopMs, cgroupDirs: [], pids };
  };
  return { pid, port, url: `ws://127.0.0.1:${port}/ws`, logFile, shellPids, stop: () => (stopping ??= stop()) };
}

/** A server that did not stop cleanly or left cgroups or processes behind fails the run, after
 *  saying what it left (stop() has removed it by then). */
export function reportLeftovers(leftovers: Record<string, Leftovers>): void {
  for (const [name, left] of Object.entries(leftovers)) {
    if (left.cgroupDirs.length === 0 && left.pids.length === 0 && left.exit === "0") continue;
    const what = [...left.cgroupDirs, ...left.pids.map((p) => `pid ${p}`)].slice(0, 5).join(", ");
    console.error(`bench: the ${name} server stopped with ${left.exit} and left ${left.cgroupDirs.length} cgroups and ${left.pids.length} processes${what ? `: ${what}` : ""}`);
    process.exitCode = 1;
  }
}
