// A server of the classroom journeys' own, beside the one playwright.config.ts starts: one of
// those journeys stops and restarts the server, which the shared one must never do. It is the
// same compiled server on another port, with its own database and cgroup parent, so that it
// never meets the shared server's sandboxes and leaves nothing of its own behind. The run
// directory is the host's one, as for every nslab on a host: its uid-range slots are what keep
// two servers' sandboxes from ever being given the same host uids.
import { type ChildProcess, spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

const PROJECT_ROOT = path.resolve(import.meta.dirname, "..");
/** The host-wide run directory both servers use (the default of NSLAB_RUN_DIR). */
const RUN_DIR = "/run/nslab";
const CGROUP_PARENT = "nslab-e2e-class";
/** Lines of the server's log kept for the message of a start that failed. */
const LOG_LINES_KEPT = 40;

export interface ClassroomServerOptions {
  port: number;
  instructorSecret: string;
}

export class ClassroomServer {
  readonly baseURL: string;
  /** The database and the instructor secret's hash: kept across a restart, as an operator's
   *  are. Made by the first start, not here: the test runner loads a spec file more than once. */
  private dataDir: string | null = null;
  private child: ChildProcess | null = null;
  private readonly logTail: string[] = [];
  /** Every process this server ran as (a restart is a new one): their sessions are its own. */
  private readonly pids: number[] = [];

  constructor(private readonly options: ClassroomServerOptions) {
    this.baseURL = `http://127.0.0.1:${options.port}`;
  }

  /** Starts the server and resolves once /healthz answers. */
  async start(): Promise<void> {
    if (this.child) throw new Error("the classroom server is already running");
    const dataDir = (this.dataDir ??= fs.mkdtempSync(path.join(os.tmpdir(), "nslab-e2e-class-")));
    const child = spawn(process.execPath, ["--enable-source-maps", "dist/server.mjs"], {
      cwd: PROJECT_ROOT,
      env: {
        ...process.env,
        PORT: String(this.options.port),
        HOST: "127.0.0.1",
        NODE_ENV: "production",
        NSLAB_DATA_DIR: dataDir,
        NSLAB_RUN_DIR: RUN_DIR,
        NSLAB_CGROUP_PARENT: `/${CGROUP_PARENT}`,
        NSLAB_INSTRUCTOR_SECRET: this.options.instructorSecret,
        // A reload must find its sandbox again, as with the shared server.
        NSLAB_RECONNECT_GRACE_S: "60",
        NEXT_TELEMETRY_DISABLED: "1",
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    this.child = child;
    if (child.pid !== undefined) this.pids.push(child.pid);
    const keep = (chunk: Buffer) => {
      for (const line of chunk.toString("utf8").split("\n")) if (line.trim()) this.logTail.push(line);
      this.logTail.splice(0, Math.max(0, this.logTail.length - LOG_LINES_KEPT));
    };
    child.stdout?.on("data", keep);
    child.stderr?.on("data", keep);

    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline) {
      if (child.exitCode !== null || child.signalCode !== null) {
        this.child = null;
        throw new Error(`the classroom server exited while starting (${child.exitCode ?? child.signalCode}):\n${this.log()}`);
      }
      const healthy = await fetch(`${this.baseURL}/healthz`).then(
        (response) => response.ok,
        () => false,
      );
      if (healthy) return;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    await this.stop();
    throw new Error(`the classroom server did not answer /healthz within 60 s:\n${this.log()}`);
  }

  /**
   * Stops it as an operator does (SIGTERM), so that it ends its sessions and removes the
   * sandboxes it prepared ahead, and waits until the process is gone. Resolves with its exit
   * code, or the signal that ended it; null when it was not running.
   */
  async stop(): Promise<number | NodeJS.Signals | null> {
    const child = this.child;
    if (!child) return null;
    this.child = null;
    if (child.exitCode !== null || child.signalCode !== null) return child.exitCode ?? child.signalCode;
    const exited = new Promise<number | NodeJS.Signals | null>((resolve) => child.once("exit", (code, signal) => resolve(code ?? signal)));
    child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), 30_000);
    const code = await exited;
    clearTimeout(timer);
    return code;
  }

  /** While stopped: what a server that ended cleanly leaves of its sandboxes — nothing, neither
   *  a session's cgroup inside its parents nor a session's directory. */
  leftovers(): string[] {
    const cgroups = cgroupParents().flatMap((dir) =>
      safeReaddir(dir)
        .map((name) => path.join(dir, name))
        .filter((entry) => fs.statSync(entry, { throwIfNoEntry: false })?.isDirectory()),
    );
    // The shared server's sessions are there too: only this server's own count.
    const pids = new Set(this.pids.map(String));
    const sessions = safeReaddir(path.join(RUN_DIR, "sessions"))
      .map((name) => path.join(RUN_DIR, "sessions", name))
      .filter((dir) => pids.has(readOr(path.join(dir, "owner")).trim()));
    return [...cgroups, ...sessions];
  }

  /** The last lines the server logged. */
  log(): string {
    return this.logTail.join("\n");
  }

  /**
   * After stop(): removes the data directory and the cgroup parents the
   * server made (it removes the session cgroups inside them itself; rmdir refuses a cgroup that
   * still has one, so a leak stays visible). Returns the cgroup directories still there.
   */
  cleanUp(): string[] {
    if (this.dataDir) fs.rmSync(this.dataDir, { recursive: true, force: true });
    this.dataDir = null;
    for (const dir of cgroupParents()) {
      try {
        fs.rmdirSync(dir);
      } catch {
        // Still holds a session's cgroup: reported by the caller.
      }
    }
    return cgroupParents();
  }
}

/** This server's cgroup parents on every hierarchy: /sys/fs/cgroup/<controller>/nslab-e2e-class*
 *  on cgroup v1, /sys/fs/cgroup/nslab-e2e-class* on v2. */
function cgroupParents(): string[] {
  const root = "/sys/fs/cgroup";
  const found: string[] = [];
  const match = (dir: string) => {
    for (const name of safeReaddir(dir)) if (name.startsWith(CGROUP_PARENT)) found.push(path.join(dir, name));
  };
  match(root);
  for (const name of safeReaddir(root)) {
    const dir = path.join(root, name);
    if (!name.startsWith(CGROUP_PARENT) && fs.statSync(dir, { throwIfNoEntry: false })?.isDirectory()) match(dir);
  }
  return found;
}

function safeReaddir(dir: string): string[] {
  try {
    return fs.readdirSync(dir);
  } catch {
    return [];
  }
}

/** The file a sandbox's memory limit is in, as the shell inside sees it: cgroup v2 mounts one
 *  unified tree at /sys/fs/cgroup, v1 a tree per controller. */
export function memoryLimitFile(): string {
  const mounts = fs.readFileSync("/proc/self/mounts", "utf8").split("\n");
  const unified = mounts.some((line) => {
    const [, mountPoint, type] = line.split(" ");
    return mountPoint === "/sys/fs/cgroup" && type === "cgroup2";
  });
  return unified ? "/sys/fs/cgroup/memory.max" : "/sys/fs/cgroup/memory/memory.limit_in_bytes";
}

function readOr(file: string): string {
  try {
    return fs.readFileSync(file, "utf8");
  } catch {
    return "";
  }
}
