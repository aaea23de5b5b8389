// A throwaway PostgreSQL server for tests: initdb in a temporary directory, started with
// pg_ctl on a free TCP port of 127.0.0.1, trusting every connection (it listens on loopback
// only, and its Unix socket is in its own directory), and removed whole by stop(). Each test
// file starts one cluster and takes a fresh database of it per test: CREATE DATABASE is far
// cheaper than initdb.
//
// initdb, pg_ctl and postgres all refuse to run as root (a superuser process owning the data
// directory could be made to run code as root through it), so as root they run as the
// `postgres` OS user that Debian's postgresql package creates, and the directory is chowned
// to it. Like the sandbox tests (kernel.ts), a machine without PostgreSQL skips these tests
// with the reason, except under CI=true, where the missing server fails the run.
import { type SpawnSyncReturns, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

import pg from "pg";
import { afterAll, beforeAll, describe } from "vitest";

import { freePort } from "./free-port";

/** The programs a cluster needs, all from one directory so that their versions match. */
const PROGRAMS = ["initdb", "pg_ctl", "postgres"] as const;

/** The bin directory of the newest PostgreSQL installed: Debian's /usr/lib/postgresql/<major>/bin,
 *  else wherever initdb on PATH really lives. Null when there is none. */
function findPgBinDir(): string | null {
  const root = "/usr/lib/postgresql";
  let majors: string[] = [];
  try {
    majors = fs.readdirSync(root).filter((name) => /^\d+(\.\d+)?$/.test(name));
  } catch {
    // no Debian-style installation
  }
  majors.sort((a, b) => Number(b) - Number(a));
  const candidates = majors.map((major) => path.join(root, major, "bin"));
  for (const dir of (process.env.PATH ?? "").split(":").filter(Boolean)) {
    try {
      candidates.push(path.dirname(fs.realpathSync(path.join(dir, "initdb"))));
    } catch {
      // not on this PATH entry
    }
  }
  return candidates.find((dir) => PROGRAMS.every((program) => isExecutable(path.join(dir, program)))) ?? null;
}

function isExecutable(file: string): boolean {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}

interface OsUser {
  uid: number;
  gid: number;
}

/** The `postgres` OS user from /etc/passwd (no NSS look-up: Node has none, and a package's
 *  system user is always a local one). */
function postgresOsUser(): OsUser | null {
  let passwd: string;
  try {
    passwd = fs.readFileSync("/etc/passwd", "utf8");
  } catch {
    return null;
  }
  for (const line of passwd.split("\n")) {
    const [name, , uid, gid] = line.split(":");
    if (name === "postgres" && uid !== undefined && gid !== undefined) return { uid: Number(uid), gid: Number(gid) };
  }
  return null;
}

const isRoot = () => process.getuid?.() === 0;

const INSTALL_HINT = "install the PostgreSQL server (Debian/Ubuntu: apt-get install -y postgresql; `npm test` does it when run as root)";

function unavailableReason(): string | null {
  const bin = findPgBinDir();
  if (!bin) return `no PostgreSQL server binaries (${PROGRAMS.join(", ")}) in /usr/lib/postgresql/*/bin or on PATH; ${INSTALL_HINT}`;
  if (isRoot() && !postgresOsUser()) {
    return `running as root, and initdb refuses root, but there is no postgres OS user to run it as; create one (useradd --system postgres) or run the tests as another user`;
  }
  return null;
}

/** Why a throwaway PostgreSQL cannot run here, or null when it can. Under CI=true it throws
 *  instead of answering: CI must never pass by skipping the database's tests. */
export function pgUnavailableReason(): string | null {
  const reason = unavailableReason();
  if (reason !== null && process.env.CI === "true") throw new Error(`CI needs a PostgreSQL server for the tests, but: ${reason}`);
  return reason;
}

/**
 * describe() for tests that need a PostgreSQL server, with one cluster for the whole block:
 * started in its beforeAll, stopped in its afterAll, and `cluster()` gives it to the tests and
 * their hooks. Where no server can run, the block is skipped and its name says why (under
 * CI=true, pgUnavailableReason throws instead).
 */
export function describePg(name: string, body: (cluster: () => PgCluster) => void): void {
  const reason = pgUnavailableReason();
  describe.skipIf(reason !== null)(`${name}${reason ? ` (skipped: ${reason})` : ""}`, () => {
    let started: PgCluster | null = null;
    beforeAll(async () => {
      started = await startPgCluster();
    });
    afterAll(async () => {
      await started?.stop();
    });
    body(() => {
      if (!started) throw new Error("the PostgreSQL test cluster is not started: call cluster() from a test or a hook, not while the block is defined");
      return started;
    });
  });
}

export interface PgCluster {
  /** postgres:// URL of a database of this cluster (default "postgres"). */
  url(database?: string): string;
  /** A new, empty database; its URL. */
  createDatabase(): Promise<string>;
  /** Stops the server and removes its directory. */
  stop(): Promise<void>;
}

/** The superuser initdb makes (-U), whoever runs it, so that every cluster's URL has the same user. */
const SUPERUSER = "postgres";

/** Tries of a start: the free port found can be taken by another process before the server binds it. */
const START_ATTEMPTS = 3;

/** initdb + pg_ctl start in a temporary directory, on a free TCP port on 127.0.0.1, as the
 *  `postgres` OS user when run as root (initdb refuses root). */
export async function startPgCluster(): Promise<PgCluster> {
  const reason = unavailableReason();
  if (reason !== null) throw new Error(`cannot start a PostgreSQL server for the tests: ${reason}`);
  const bin = findPgBinDir() ?? "";
  const runAs = isRoot() ? postgresOsUser() : null;

  // Everything of the cluster under one directory: the data directory, the socket, the log.
  // mkdtemp makes it 0700; owned by the user the server runs as, nobody else can read it.
  const base = fs.mkdtempSync(path.join(os.tmpdir(), "nslab-pg-"));
  const dataDir = path.join(base, "data");
  const logFile = path.join(base, "server.log");
  let running = false;
  const removeDir = () => fs.rmSync(base, { recursive: true, force: true });

  /** Runs one of the cluster's programs as its user, in its directory; throws with its output. */
  const run = (program: (typeof PROGRAMS)[number], args: string[]): void => {
    const result = spawnSync(path.join(bin, program), args, {
      cwd: base,
      encoding: "utf8",
      // As root, Node's setuid also drops root's supplementary groups (libuv calls setgroups).
      ...(runAs ? { uid: runAs.uid, gid: runAs.gid } : {}),
      env: { ...process.env, LC_ALL: "C", PGTZ: "UTC" },
      timeout: 60_000,
    });
    if (result.status !== 0) {
      const reach = runAs ? ` (it runs as the postgres OS user, who must be able to reach ${base})` : "";
      throw new Error(`${program} ${args.join(" ")} failed${reach}: ${describeFailure(result)}${serverLog(logFile)}`);
    }
  };

  // Stopped even when the test process exits without calling stop() (a failed beforeAll, a
  // worker told to end): a postmaster outlives the process that started it.
  const stopAtExit = () => {
    if (running) stopServer(bin, dataDir, runAs);
    removeDir();
  };
  process.once("exit", stopAtExit);

  try {
    if (runAs) fs.chownSync(base, runAs.uid, runAs.gid);
    // --no-sync and fsync=off: a test database that a crash loses is lost anyway.
    run("initdb", ["--pgdata", dataDir, "--username", SUPERUSER, "--auth", "trust", "--encoding", "UTF8", "--locale", "C", "--no-sync", "--no-instructions"]);
    // Trust, but only on loopback TCP and on the socket in the cluster's 0700 directory: any
    // process of this machine may connect over TCP, which for a database of test rows removed
    // at the end of the run is fine, and nothing from another machine can.
    fs.writeFileSync(path.join(dataDir, "pg_hba.conf"), "local all all trust\nhost all all 127.0.0.1/32 trust\n");
    let port = 0;
    for (let attempt = 1; ; attempt++) {
      port = await freePort();
      fs.writeFileSync(path.join(dataDir, "postgresql.auto.conf"), serverSettings(port, base));
      fs.rmSync(logFile, { force: true });
      try {
        run("pg_ctl", ["start", "--pgdata", dataDir, "--log", logFile, "--wait", "--timeout", "60", "--silent"]);
        break;
      } catch (error) {
        if (attempt >= START_ATTEMPTS || !serverLog(logFile).includes("could not bind")) throw error;
      }
    }
    running = true;

    const url = (database = "postgres") => `postgres://${SUPERUSER}@127.0.0.1:${port}/${encodeURIComponent(database)}`;
    let stopping: Promise<void> | null = null;
    return {
      url,
      async createDatabase() {
        if (stopping) throw new Error("the PostgreSQL test cluster is stopped: start another for more databases");
        // Random, not counted: two test files never share a cluster, but the name must not
        // depend on what ran before in this one either.
        const name = `nslab_test_${randomBytes(6).toString("hex")}`;
        const admin = new pg.Client({ connectionString: url() });
        await admin.connect();
        try {
          await admin.query(`CREATE DATABASE ${name}`);
        } finally {
          await admin.end();
        }
        return url(name);
      },
      stop() {
        stopping ??= (async () => {
          process.removeListener("exit", stopAtExit);
          // Immediate: nothing here needs a clean shutdown, and the directory goes next.
          if (running) stopServer(bin, dataDir, runAs);
          running = false;
          removeDir();
        })();
        return stopping;
      },
    };
  } catch (error) {
    process.removeListener("exit", stopAtExit);
    if (running) stopServer(bin, dataDir, runAs);
    removeDir();
    throw error;
  }
}

/** The test server's settings, written to postgresql.auto.conf (which overrides postgresql.conf). */
function serverSettings(port: number, socketDir: string): string {
  const settings: Record<string, string | number> = {
    port,
    listen_addresses: "127.0.0.1",
    unix_socket_directories: socketDir,
    max_connections: 100,
    // Small: several clusters (one per test file and worker) share the machine's /dev/shm.
    shared_buffers: "16MB",
    // Durability buys nothing for a database removed at the end of the run.
    fsync: "off",
    synchronous_commit: "off",
    full_page_writes: "off",
    // Times as the store writes them (milliseconds in BIGINTs) do not depend on it, but the
    // server log's timestamps should not depend on the machine.
    timezone: "UTC",
    log_timezone: "UTC",
  };
  return Object.entries(settings)
    .map(([key, value]) => `${key} = ${typeof value === "number" ? value : `'${value.replaceAll("'", "''")}'`}\n`)
    .join("");
}

function stopServer(bin: string, dataDir: string, runAs: OsUser | null): void {
  spawnSync(path.join(bin, "pg_ctl"), ["stop", "--pgdata", dataDir, "--mode", "immediate", "--wait", "--silent"], {
    cwd: path.dirname(dataDir),
    stdio: "ignore",
    ...(runAs ? { uid: runAs.uid, gid: runAs.gid } : {}),
    timeout: 30_000,
  });
}

function describeFailure(result: SpawnSyncReturns<string>): string {
  if (result.error) return result.error.message;
  const how = result.status === null ? `killed by ${result.signal}` : `exit status ${result.status}`;
  const output = `${result.stderr ?? ""}${result.stdout ?? ""}`.trim();
  return output ? `${how}: ${output}` : how;
}

/** The end of the server's log, for an error that the log explains. */
function serverLog(logFile: string): string {
  try {
    const text = fs.readFileSync(logFile, "utf8").trim();
    return text ? `\nserver log (${logFile}):\n${text.split("\n").slice(-20).join("\n")}` : "";
  } catch {
    return "";
  }
}

