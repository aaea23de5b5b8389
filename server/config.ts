// Server settings, read once from the environment and validated: a bad value stops the
// server at start with a message naming the variable, never later in a session.
import { z } from "zod";

const bytes = z.coerce.number().int().positive();

const EnvSchema = z.object({
  PORT: z.coerce.number().int().min(0).max(65535).default(3000),
  HOST: z.string().min(1).default("0.0.0.0"),
  NODE_ENV: z.enum(["development", "production", "test"]).default("production"),
  /** The read-only image every sandbox's root filesystem starts from (native/rootfs.mjs). */
  NSLAB_ROOTFS: z.string().startsWith("/").default("/var/lib/nslab/rootfs"),
  /** Where the database of classes and progress lives (nslab.db). */
  NSLAB_DATA_DIR: z.string().startsWith("/").default("/var/lib/nslab"),
  /** The host-wide run directory: sessions/ (one directory per session: its owner, the
   *  launcher's mount points and report) and uid-slots/ (the uid ranges in use). */
  NSLAB_RUN_DIR: z.string().startsWith("/").default("/run/nslab"),
  /** The launcher binary (built by `npm install` into build/). */
  NSLAB_LAUNCHER: z.string().startsWith("/").optional(),
  NSLAB_MAX_SESSIONS: z.coerce.number().int().min(1).max(10000).default(50),
  /** Seconds a sandbox waits for its page to come back after the connection drops (a reload,
   *  lost Wi-Fi); 0 ends it as soon as the page goes. At most a day. */
  NSLAB_RECONNECT_GRACE_S: z.coerce.number().int().min(0).max(86_400).default(120),
  /** Where session cgroups go, relative to each hierarchy's root; default: beside the server. */
  NSLAB_CGROUP_PARENT: z.string().regex(/^\/[\w./-]*$/, "an absolute cgroup path such as /nslab").optional(),
  /** Origins allowed to open /ws besides the server's own, comma-separated. */
  NSLAB_ALLOWED_ORIGINS: z.string().default(""),
  NSLAB_LAYER_BYTES: bytes.default(256 * 1024 * 1024),
  NSLAB_TMP_BYTES: bytes.default(64 * 1024 * 1024),
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
  return {
    ...parsed.data,
    projectRoot,
    launcherPath: parsed.data.NSLAB_LAUNCHER ?? `${projectRoot}/build/nslab-launcher`,
  };
}
