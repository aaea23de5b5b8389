// A lab node started as a process of its own (lab-node-main.ts), as the cluster's test and its
// benchmark start them: a port, cgroup parent and data directory of its own, the run directory,
// database and secrets given (a cluster's nodes share them). Its output goes to a file in its
// data directory: a pipe nobody drains would stop the node at its next log line. Stopping it,
// and removing what it left, are the caller's: a test kills one on purpose.
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

import { hostCgroupDriver } from "../sandbox/cgroup";
import { SandboxHost } from "../sandbox/host";
import { PROJECT_ROOT, testHostOptions } from "./kernel";
import { freePort } from "./free-port";

/** What a node under `cgroupParent` left on the host (sandboxes, cgroups, the parents), removed
 *  as its next start would: for a test's cleanup, also of a node that never listened. */
export async function removeNodeLeftovers(cgroupParent: string, runDir: string): Promise<void> {
  const found = hostCgroupDriver(cgroupParent);
  if (!("driver" in found)) return;
  const host = new SandboxHost(found.driver, testHostOptions(runDir));
  await host.cleanupLeftovers();
  await host.close();
  for (const parent of Object.values(found.driver.parents)) if (fs.existsSync(parent)) fs.rmdirSync(parent);
}

export interface LabNodeOptions {
  /** NSLAB_NODE_ID, and part of the data directory's and cgroup parent's names. */
  id: string;
  /** What the caller's nodes' names begin with: the data directory is
   *  `<tmpdir>/<namePrefix>-<id>-XXXXXX`, the cgroup parent `/<namePrefix>-<id>`. */
  namePrefix: string;
  /** NSLAB_DATABASE_URL: the PostgreSQL database the cluster shares; absent, a node of its own
   *  on SQLite in its data directory. */
  databaseUrl?: string;
  /** NSLAB_MAX_SESSIONS. */
  maxSessions: number;
  /** NSLAB_RUN_DIR: one for every node on a host, as the uid ranges are the host's. */
  runDir: string;
  /** NSLAB_NODE_SECRET, signing the relay between nodes. */
  nodeSecret: string;
  /** NSLAB_INSTRUCTOR_SECRET. */
  instructorSecret: string;
  /** NSLAB_NODE_HEARTBEAT_MS; the node's default when absent. */
  heartbeatMs?: number;
  /** NSLAB_RECONNECT_GRACE_S: how long a sandbox waits for its page. */
  reconnectGraceS: number;
  /** LOG_LEVEL. */
  logLevel: "debug" | "info" | "warn" | "error";
  /** NODE_ENV. */
  nodeEnv: "production" | "test";
  /** More of its environment (settings no other option covers). */
  env?: Record<string, string>;
  /** How long it may take to listen before it is killed and the start fails (default 60 s). */
  startTimeoutMs?: number;
}

export interface LabNodeProcess {
  id: string;
  port: number;
  /** http://127.0.0.1:<port> */
  base: string;
  /** ws://127.0.0.1:<port>/ws */
  ws: string;
  /** NSLAB_CGROUP_PARENT, relative to each hierarchy's root. */
  cgroupParent: string;
  dataDir: string;
  /** Where the node's stdout and stderr go. */
  logFile: string;
  child: ChildProcess;
  /** Its NSLAB_OPERATOR_TOKEN, as request headers: /healthz in full (the cluster's nodes). */
  operator: { authorization: string };
  /** The last lines of the log, for an error message. */
  logTail(lines?: number): string;
}

const DEFAULT_START_TIMEOUT_MS = 60_000;

function tailOf(file: string, lines: number): string {
  try {
    return fs.readFileSync(file, "utf8").trimEnd().split("\n").slice(-lines).join("\n");
  } catch {
    return "";
  }
}

/** Resolves once the node prints the {"port":N} line it prints when it listens. */
export async function startLabNodeProcess(options: LabNodeOptions): Promise<LabNodeProcess> {
  const { id } = options;
  const port = await freePort();
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), `${options.namePrefix}-${id}-`));
  const logFile = path.join(dataDir, "node.log");
  const cgroupParent = `/${options.namePrefix}-${id}`;
  const logFd = fs.openSync(logFile, "a");
  const operatorToken = randomBytes(24).toString("hex");
  // stderr straight to the file; stdout through this process, which looks for the port line in
  // it and appends all of it to the same file (O_APPEND: neither writer overwrites the other).
  const child = spawn(process.execPath, ["--import", "tsx", path.join(PROJECT_ROOT, "server/testing/lab-node-main.ts")], {
    cwd: PROJECT_ROOT,
    stdio: ["ignore", "pipe", logFd],
    env: {
      ...process.env,
      NODE_ENV: options.nodeEnv,
      LOG_LEVEL: options.logLevel,
      HOST: "127.0.0.1",
      PORT: String(port),
      NSLAB_DATA_DIR: dataDir,
      NSLAB_RUN_DIR: options.runDir,
      NSLAB_CGROUP_PARENT: cgroupParent,
      NSLAB_MAX_SESSIONS: String(options.maxSessions),
      NSLAB_RECONNECT_GRACE_S: String(options.reconnectGraceS),
      ...(options.databaseUrl === undefined ? {} : { NSLAB_DATABASE_URL: options.databaseUrl }),
      NSLAB_NODE_ID: id,
      NSLAB_NODE_ADDRESS: `http://127.0.0.1:${port}`,
      NSLAB_NODE_SECRET: options.nodeSecret,
      NSLAB_INSTRUCTOR_SECRET: options.instructorSecret,
      NSLAB_OPERATOR_TOKEN: operatorToken,
      ...(options.heartbeatMs === undefined ? {} : { NSLAB_NODE_HEARTBEAT_MS: String(options.heartbeatMs) }),
      ...options.env,
    },
  });
  fs.closeSync(logFd);
  const stdout = child.stdout;
  if (!stdout) throw new Error(`node ${id} could not be spawned`);
  stdout.pipe(fs.createWriteStream(logFile, { flags: "a" }));
  const logTail = (lines = 20) => tailOf(logFile, lines);

  const timeoutMs = options.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS;
  // A node that did not start is not the caller's to stop: the error carries its log's end, and
  // its data directory goes (the cgroup parent and run directory it may have made stay).
  const failStart = (message: string) => {
    const error = new Error(`${message}:\n${logTail()}`);
    fs.rmSync(dataDir, { recursive: true, force: true });
    return error;
  };
  await new Promise<void>((resolve, reject) => {
    let seen = "";
    const settle = (error: Error | null) => {
      clearTimeout(timer);
      stdout.off("data", onData);
      child.off("exit", onExit);
      if (error) reject(error);
      else resolve();
    };
    const timer = setTimeout(() => {
      // A node that never listens would otherwise outlive the caller that gave up on it.
      child.kill("SIGKILL");
      settle(failStart(`node ${id} did not listen within ${timeoutMs / 1000} s`));
    }, timeoutMs);
    const onData = (chunk: Buffer) => {
      seen += chunk.toString("utf8");
      if (/^\{"port":\d+\}$/m.test(seen)) settle(null);
    };
    const onExit = (code: number | null, signal: NodeJS.Signals | null) => {
      settle(failStart(`node ${id} exited (${signal ?? code}) before it listened`));
    };
    stdout.on("data", onData);
    child.once("exit", onExit);
  });
  return { id, port, base: `http://127.0.0.1:${port}`, ws: `ws://127.0.0.1:${port}/ws`, cgroupParent, dataDir, logFile, child, operator: { authorization: `Bearer ${operatorToken}` }, logTail };
}
