// Server settings, read once from the environment and validated: a bad value stops the
// server at start with a message naming the variable, never later in a session.
// zod's functional API (zod/mini), with its English messages: `nslab run` reads its settings
// here too, and the chained API costs ≈ 100 ms to load (see ARCHITECTURE.md).
import * as z from "zod/mini";
import en from "zod/v4/locales/en.js";

z.config(en());

const integer = (min: number, max: number) => z.coerce.number().check(z.int(), z.minimum(min), z.maximum(max));
const bytes = z.coerce.number().check(z.int(), z.positive());
const absolutePath = z.string().check(z.startsWith("/"));

const EnvSchema = z.object({
  PORT: z._default(integer(0, 65535), 3000),
  HOST: z._default(z.string().check(z.minLength(1)), "0.0.0.0"),
  NODE_ENV: z._default(z.enum(["development", "production", "test"]), "production"),
  /** The read-only image every sandbox's root filesystem starts from (native/rootfs.mjs). */
  NSLAB_ROOTFS: z._default(absolutePath, "/var/lib/nslab/rootfs"),
  /** Where the database of classes and progress lives (nslab.db). */
  NSLAB_DATA_DIR: z._default(absolutePath, "/var/lib/nslab"),
  /** The host-wide run directory: sessions/ (one directory per session: its owner, the
   *  launcher's mount points and report) and uid-slots/ (the uid ranges in use). */
  NSLAB_RUN_DIR: z._default(absolutePath, "/run/nslab"),
  /** The launcher binary (built by `npm install` into build/). */
  NSLAB_LAUNCHER: z.optional(absolutePath),
  NSLAB_MAX_SESSIONS: z._default(integer(1, 10000), 50),
  /** Sandboxes started at once; a class joining together waits its turn in line (default:
   *  half the CPUs, at least one). */
  NSLAB_START_CONCURRENCY: z.optional(integer(1, 256)),
  /** Seconds a sandbox waits for its page to come back after the connection drops (a reload,
   *  lost Wi-Fi); 0 ends it as soon as the page goes. At most a day. */
  NSLAB_RECONNECT_GRACE_S: z._default(integer(0, 86_400), 120),
  /** Where session cgroups go, relative to each hierarchy's root (default /nslab). */
  NSLAB_CGROUP_PARENT: z.optional(z.string().check(z.regex(/^\/[\w./-]*$/, "an absolute cgroup path such as /nslab"))),
  /** Origins allowed to open /ws besides the server's own, comma-separated. */
  NSLAB_ALLOWED_ORIGINS: z._default(z.string(), ""),
  /** The classroom's instructor secret (at least 12 characters). Unset: one is made on the
   *  first start, printed once to the log, and kept as a hash in the data directory. */
  NSLAB_INSTRUCTOR_SECRET: z.optional(z.string().check(z.minLength(12, "the instructor secret must be at least 12 characters"))),
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
  NSLAB_LAYER_BYTES: z._default(bytes, 256 * 1024 * 1024),
  NSLAB_TMP_BYTES: z._default(bytes, 64 * 1024 * 1024),
});

export type Config = z.infer<typeof EnvSchema> & { launcherPath: string; projectRoot: string };

export function loadConfig(env: NodeJS.ProcessEnv, projectRoot: string): Config {
  // The old name would otherwise be ignored without a word, and sessions land in the default.
  if (env.NSLAB_STATE_DIR !== undefined && env.NSLAB_RUN_DIR === undefined) {
    throw new Error("NSLAB_STATE_DIR was renamed NSLAB_RUN_DIR; set that instead");
  }
  const parsed = EnvSchema.safeParse(env);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join(".")}: ${i.message}`);
    throw new Error(`invalid environment:\n${lines.join("\n")}`);
  }
  if (parsed.data.NSLAB_DATABASE_URL !== undefined) {
    // A lab on PostgreSQL is a cluster (of one, or of many): each node must be reachable by
    // the others and share their secrets, or a learner's reconnect could not find its sandbox
    // and each node would make an instructor secret of its own.
    const missing = (["NSLAB_NODE_ADDRESS", "NSLAB_NODE_SECRET", "NSLAB_INSTRUCTOR_SECRET"] as const).filter((name) => parsed.data[name] === undefined);
    if (missing.length > 0) {
      throw new Error(`invalid environment:\n  NSLAB_DATABASE_URL is set, so the lab runs as a cluster of nodes sharing it; set ${missing.join(", ")} too, the same secrets on every node (see deploy/kubernetes/README.md)`);
    }
  }
  return {
    ...parsed.data,
    projectRoot,
    launcherPath: parsed.data.NSLAB_LAUNCHER ?? `${projectRoot}/build/nslab-launcher`,
  };
}
