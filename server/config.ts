// Server settings, read once from the environment and validated: a bad value stops the
// server at start with a message naming the variable, never later in a session.
// zod's functional API (zod/mini), with its English messages: `nslab run` reads its settings
// here too, and the chained API costs ≈ 100 ms to load (see ARCHITECTURE.md).
import { isIP } from "node:net";
import os from "node:os";

import * as z from "zod/mini";
import en from "zod/v4/locales/en.js";

import { LAB_DEFAULT_LIMITS, type LimitField, type Limits, checkLimits, parseLimitInput } from "../common/limits";
import { DEFAULT_UID_BASE, MAX_SLOTS, MAX_UID_BASE } from "./sandbox/uid-slots";

z.config(en());

const integer = (min: number, max: number) => z.coerce.number().check(z.int(), z.minimum(min), z.maximum(max));
const bytes = z.coerce.number().check(z.int(), z.positive());
const absolutePath = z.string().check(z.startsWith("/"));

/** The entries of a comma-separated setting, trimmed, empty ones left out. */
export function splitList(value: string): string[] {
  return value
    .split(",")
    .map((entry) => entry.trim())
    .filter(Boolean);
}

/** "10.1.2.3", "::1", "10.0.0.0/8" or "fd00::/8": an address, or a subnet with a prefix length
 *  its family allows. */
export function isAddressOrSubnet(entry: string): boolean {
  const [address = "", prefix, extra] = entry.split("/");
  const family = isIP(address);
  if (family === 0 || extra !== undefined) return false;
  if (prefix === undefined) return true;
  return /^\d{1,3}$/.test(prefix) && Number(prefix) <= (family === 4 ? 32 : 128);
}

/** `value` as an origin (scheme, host and port: lower case, no default port), or null when it
 *  is not an http or https URL with nothing after the host and port but an optional "/". */
export function canonicalOrigin(value: string): string | null {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return null;
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") return null;
  if (url.username || url.password || url.pathname !== "/" || /[?#]/.test(value)) return null;
  return url.origin;
}

const ORIGIN_FORM = "origins such as https://lab.example.org or http://10.0.3.7:3000 (http or https, a host, an optional port, no path)";

function isOriginList(value: string): boolean {
  return splitList(value).every((entry) => canonicalOrigin(entry) !== null);
}

/** The settings of a lab session's default limits, each in the syntax of its docker flag. */
const LIMIT_SETTINGS: ReadonlyArray<readonly [name: string, field: LimitField]> = [
  ["NSLAB_MEMORY", "memoryBytes"],
  ["NSLAB_MEMORY_SWAP", "memorySwapBytes"],
  ["NSLAB_CPUS", "cpus"],
  ["NSLAB_PIDS_LIMIT", "pids"],
];

/**
 * The limits a solo learner's sandbox gets and a new class starts from: the built-in ones
 * (LAB_DEFAULT_LIMITS) but where NSLAB_MEMORY, NSLAB_MEMORY_SWAP, NSLAB_CPUS or
 * NSLAB_PIDS_LIMIT say otherwise, checked by docker's rules and this host's size. NSLAB_MEMORY
 * alone brings no swap: memory-swap follows it, as in the built-in defaults (docker's own rule,
 * twice the memory, is what the first lesson warns of). `problems`: one line per bad value.
 */
export function defaultLimitsFrom(env: NodeJS.ProcessEnv): { limits: Limits; problems: string[] } {
  const limits: Limits = { ...LAB_DEFAULT_LIMITS };
  const problems: string[] = [];
  for (const [name, field] of LIMIT_SETTINGS) {
    const text = env[name];
    if (text === undefined) continue;
    const parsed = parseLimitInput(field, text);
    if (parsed.ok) limits[field] = parsed.value;
    else problems.push(`  ${name}: '${text}': ${parsed.message}`);
  }
  if (env.NSLAB_MEMORY !== undefined && env.NSLAB_MEMORY_SWAP === undefined) limits.memorySwapBytes = limits.memoryBytes;
  if (problems.length === 0) {
    const check = checkLimits(limits, { cpus: os.availableParallelism(), memoryBytes: os.totalmem() });
    if (!check.ok) problems.push(`  ${LIMIT_SETTINGS.find(([, field]) => field === check.field)?.[0]}: ${check.message}`);
  }
  return { limits, problems };
}

const EnvSchema = z.object({
  PORT: z._default(integer(0, 65535), 3000),
  HOST: z._default(z.string().check(z.minLength(1)), "0.0.0.0"),
  NODE_ENV: z._default(z.enum(["development", "production", "test"]), "production"),
  /** The read-only image every sandbox's root filesystem starts from (native/rootfs.mjs). */
  NSLAB_ROOTFS: z._default(absolutePath, "/var/lib/nslab/rootfs"),
  /** Where the database of classes and progress lives (nslab.db). */
  NSLAB_DATA_DIR: z._default(absolutePath, "/var/lib/nslab"),
  /** The run directory: sessions/ (one directory per session: its owner, the launcher's mount
   *  points and report). The uid ranges in use are host-wide whatever it is (UID_SLOTS_DIR). */
  NSLAB_RUN_DIR: z._default(absolutePath, "/run/nslab"),
  /** The first host uid/gid of the sandboxes' ranges: MAX_SLOTS (2048) ranges of 65536 ids
   *  from here, which must overlap no range of /etc/subuid, /etc/subgid, sssd or systemd
   *  (2000224256 by default, between sssd's and systemd's foreign range; the server refuses to
   *  start otherwise, and `nslab doctor` says which). A multiple of 65536, at most MAX_UID_BASE. */
  NSLAB_UID_BASE: z._default(
    z.coerce.number().check(z.int(), z.minimum(65536), z.maximum(MAX_UID_BASE), z.multipleOf(65536, "a multiple of 65536")),
    DEFAULT_UID_BASE,
  ),
  /** The launcher binary (built by `npm install` into build/). */
  NSLAB_LAUNCHER: z.optional(absolutePath),
  /** At most MAX_SLOTS: a sandbox needs a uid range of its own, and the host has that many. */
  NSLAB_MAX_SESSIONS: z._default(integer(1, MAX_SLOTS), 50),
  /** Sandboxes started at once; a class joining together waits its turn in line (default:
   *  half the CPUs, at least one). */
  NSLAB_START_CONCURRENCY: z.optional(integer(1, 256)),
  /** Seconds a sandbox waits for its page to come back after the connection drops (a reload,
   *  lost Wi-Fi); 0 ends it as soon as the page goes. At most a day. */
  NSLAB_RECONNECT_GRACE_S: z._default(integer(0, 86_400), 120),
  /** Live sandboxes one learner (one nslab_learner cookie) may hold outside a class; a new
   *  start ends their oldest. 0: no bound but the lab's. */
  NSLAB_SESSIONS_PER_LEARNER: z._default(integer(0, 1000), 1),
  /** Sandboxes one client address (an IPv6 /64) may hold outside a class; one more start is
   *  refused. 0: no bound but the lab's. Class members are not counted (a room shares a NAT). */
  NSLAB_SESSIONS_PER_ADDRESS: z._default(integer(0, 10_000), 4),
  /** Reverse proxies whose X-Forwarded-For is believed: comma-separated addresses or subnets
   *  (10.0.0.0/8); by default none, and the socket's address is the client's. */
  NSLAB_TRUSTED_PROXIES: z._default(
    z.string().check(z.refine((value: string) => splitList(value).every(isAddressOrSubnet), "comma-separated IP addresses or subnets such as 127.0.0.1,10.0.0.0/8")),
    "",
  ),
  /** Seconds without a keystroke, a resize or an attach by the owner's page before a sandbox
   *  is ended (the page is warned a minute before). 0: never. */
  NSLAB_IDLE_TIMEOUT_S: z._default(integer(0, 7 * 86_400), 1800),
  /** Seconds a sandbox may live, however busy (the page is warned a minute before). 0: no bound. */
  NSLAB_SESSION_LIFETIME_S: z._default(integer(0, 30 * 86_400), 4 * 3600),
  /** Where session cgroups go, relative to each hierarchy's root (default /nslab). */
  NSLAB_CGROUP_PARENT: z.optional(z.string().check(z.regex(/^\/[\w./-]*$/, "an absolute cgroup path such as /nslab"))),
  /** Origins allowed to open /ws besides the server's own, comma-separated. */
  NSLAB_ALLOWED_ORIGINS: z._default(z.string().check(z.refine(isOriginList, `comma-separated ${ORIGIN_FORM}`)), ""),
  /** Where learners open the lab, comma-separated origins (https://lab.example.org). Pages of
   *  these origins (and NSLAB_ALLOWED_ORIGINS) may open /ws, and /ws answers only to their
   *  hosts (and the listening address). Unset: http://localhost:PORT and the other loopback
   *  names of the listening address, for use on this machine. */
  NSLAB_PUBLIC_ORIGIN: z._default(z.string().check(z.refine(isOriginList, `comma-separated ${ORIGIN_FORM}`)), ""),
  /** The classroom's instructor secret (at least 12 characters). Unset: one is made on the
   *  first start, printed once to the log, and kept as a hash in the data directory. */
  NSLAB_INSTRUCTOR_SECRET: z.optional(z.string().check(z.minLength(12, "the instructor secret must be at least 12 characters"))),
  /** Shows /healthz in full (the kernel, its features, the readings, the starts, the cluster's
   *  nodes) to a request with `Authorization: Bearer TOKEN`; at least 24 characters. Unset:
   *  /healthz says only whether the node is ready and how many sessions it has, to everyone. */
  NSLAB_OPERATOR_TOKEN: z.optional(z.string().check(z.minLength(24, "the operator token must be at least 24 characters (e.g. `openssl rand -hex 16`)"))),
  /** postgres://… : classes, progress and the cluster's nodes in PostgreSQL, shared by every
   *  node of a lab on several machines. Unset: an embedded SQLite in NSLAB_DATA_DIR. */
  NSLAB_DATABASE_URL: z.optional(z.string().check(z.regex(/^postgres(ql)?:\/\/\S+$/, "a PostgreSQL URL such as postgres://nslab:PASSWORD@db:5432/nslab"))),
  /** This node's name in the cluster (default: the host's name and PORT). */
  NSLAB_NODE_ID: z.optional(z.string().check(z.regex(/^[\w.:-]{1,128}$/, "letters, digits and . _ : - (at most 128)"))),
  /** Where the other nodes reach this one, e.g. http://10.0.3.7:3000 (with NSLAB_DATABASE_URL). */
  NSLAB_NODE_ADDRESS: z.optional(z.string().check(z.regex(/^https?:\/\/[^/\s]+$/, "an http:// address with a host and port and no path, e.g. http://10.0.3.7:3000"))),
  /** Signs the connections nodes pass to each other (at least 16 characters, the same on every node). */
  NSLAB_NODE_SECRET: z.optional(z.string().check(z.minLength(16, "the node secret must be at least 16 characters"))),
  /** How often a node tells the others it is alive; 3 missed and it is gone. */
  NSLAB_NODE_HEARTBEAT_MS: z._default(integer(100, 60_000), 5_000),
  /** A sandbox's writable layer (its files, /tmp included on disk): ENOSPC past this. */
  NSLAB_LAYER_BYTES: z._default(bytes, 256 * 1024 * 1024),
  /** /dev/shm's tmpfs (and /tmp's, with tmpfs layers), at most a quarter of the memory limit. */
  NSLAB_TMP_BYTES: z._default(bytes, 64 * 1024 * 1024),
  /** Where writable layers go: "disk" (an ext4 image per session under NSLAB_DATA_DIR/layers,
   *  refusing to start where the host cannot), "tmpfs" (memory, sized below the memory limit),
   *  "auto" (disk where the host can; the server logs which and why). */
  NSLAB_LAYER_STORAGE: z._default(z.enum(["auto", "disk", "tmpfs"]), "auto"),
  /** The log's threshold. server/log.ts reads it as it loads (pino refuses an unknown one
   *  there first); checked here too, so that every caller of loadConfig names it like the rest. */
  LOG_LEVEL: z.optional(z.enum(["trace", "debug", "info", "warn", "error", "fatal", "silent"])),
});

export type Config = z.infer<typeof EnvSchema> & {
  launcherPath: string;
  /** NSLAB_MEMORY, NSLAB_MEMORY_SWAP, NSLAB_CPUS, NSLAB_PIDS_LIMIT over the built-in defaults. */
  defaultLimits: Readonly<Limits>;
  projectRoot: string;
  /** NSLAB_PUBLIC_ORIGIN's origins; empty when unset. */
  publicOrigins: string[];
};

/** A setting refused: its message says what to change, and a stack would only bury it. */
export class ConfigError extends Error {
  override name = "ConfigError";
}

export function loadConfig(env: NodeJS.ProcessEnv, projectRoot: string): Config {
  // The old name would otherwise be ignored without a word, and sessions land in the default.
  if (env.NSLAB_STATE_DIR !== undefined && env.NSLAB_RUN_DIR === undefined) {
    throw new ConfigError("NSLAB_STATE_DIR was renamed NSLAB_RUN_DIR; set that instead");
  }
  const parsed = EnvSchema.safeParse(env);
  const limits = defaultLimitsFrom(env);
  if (!parsed.success || limits.problems.length > 0) {
    const lines = [...(parsed.success ? [] : parsed.error.issues.map((i) => `  ${i.path.join(".")}: ${i.message}`)), ...limits.problems];
    throw new ConfigError(`invalid environment:\n${lines.join("\n")}`);
  }
  if (parsed.data.NSLAB_DATABASE_URL !== undefined) {
    // A lab on PostgreSQL is a cluster (of one, or of many): each node must be reachable by
    // the others and share their secrets, or a learner's reconnect could not find its sandbox
    // and each node would make an instructor secret of its own.
    const missing = (["NSLAB_NODE_ADDRESS", "NSLAB_NODE_SECRET", "NSLAB_INSTRUCTOR_SECRET"] as const).filter((name) => parsed.data[name] === undefined);
    if (missing.length > 0) {
      throw new ConfigError(`invalid environment:\n  NSLAB_DATABASE_URL is set, so the lab runs as a cluster of nodes sharing it; set ${missing.join(", ")} too, the same secrets on every node (see deploy/kubernetes/README.md)`);
    }
  }
  return {
    ...parsed.data,
    projectRoot,
    launcherPath: parsed.data.NSLAB_LAUNCHER ?? `${projectRoot}/build/nslab-launcher`,
    defaultLimits: Object.freeze(limits.limits),
    publicOrigins: splitList(parsed.data.NSLAB_PUBLIC_ORIGIN).map((entry) => canonicalOrigin(entry) ?? entry),
  };
}
