// The only module that knows the launcher's command line: it turns a typed options object into
// argv for native/launcher.c. Values are validated by the launcher again before it acts.
import { type SessionCgroup, v1HierarchyDirs } from "./cgroup/session-cgroup";

export interface LauncherOptions {
  launcherPath: string;
  rootfs: string;
  /** An empty host directory for the launcher's mount points (<sessionDir>/mnt). */
  mountDir: string;
  uidBase: number;
  hostname: string;
  /** The writable layer: the session's ext4 image on disk (/tmp is part of it), that image
   *  already mounted (the spawner's makeLayer) at the launcher's descriptor `mountFd`, or a
   *  tmpfs of these sizes with a tmpfs /tmp beside it (server/sandbox/layer-disk.ts). */
  layer: { image: string } | { mountFd: number } | { layerBytes: number; layerInodes: number; tmpBytes: number };
  /** /dev/shm's tmpfs. */
  shmBytes: number;
  /** The session's cgroup, which the launcher moves the sandbox into and mounts inside. */
  cgroup: SessionCgroup;
  /** The launcher's descriptor for its step report (a pipe the server reads): see
   *  common/launch-events.ts. */
  statusFd?: number;
  cwd?: string;
  /** The shell's whole environment: nothing of the server's reaches the sandbox. */
  env: Record<string, string>;
  command: string[];
}

/** The ptys of each sandbox's own /dev/pts (its devpts `max=`; PTYS_PER_SANDBOX in
 *  native/launcher.c): every sandbox's instance draws from the host's one pool of
 *  kernel.pty.max - kernel.pty.reserve, which `nslab doctor` checks holds this many a session. */
export const PTYS_PER_SANDBOX = 32;

export function launcherArgv(o: LauncherOptions): { file: string; args: string[] } {
  if (o.command.length === 0) throw new Error("launcherArgv: empty command");
  const args = [
    "--rootfs", o.rootfs,
    "--mount-dir", o.mountDir,
    "--uid-base", String(o.uidBase),
    "--hostname", o.hostname,
    ...("image" in o.layer
      ? ["--layer-image", o.layer.image]
      : "mountFd" in o.layer
        ? ["--layer-fd", String(o.layer.mountFd)]
        : ["--layer-bytes", String(o.layer.layerBytes), "--layer-inodes", String(o.layer.layerInodes), "--tmp-bytes", String(o.layer.tmpBytes)]),
    "--shm-bytes", String(o.shmBytes),
  ];
  if (o.cgroup.version === 1) {
    // One per hierarchy, named by the controllers mounted in it ("cpu,cpuacct"): the launcher
    // mounts each inside with that name as its options and its directory.
    for (const { name, dir } of v1HierarchyDirs(o.cgroup)) args.push("--cgroup-v1", `${name}=${dir}`);
    // The other hierarchies' leaves: joined, not mounted (session-cgroup.ts).
    for (const dir of o.cgroup.joined ?? []) args.push("--cgroup-join", dir);
  } else {
    args.push("--cgroup-v2", o.cgroup.dir);
  }
  if (o.statusFd !== undefined) args.push("--status-fd", String(o.statusFd));
  if (o.cwd) args.push("--cwd", o.cwd);
  for (const [key, value] of Object.entries(o.env)) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(key)) throw new Error(`launcherArgv: bad environment name ${key}`);
    args.push("--env", `${key}=${value}`);
  }
  args.push("--", ...o.command);
  return { file: o.launcherPath, args };
}

/** The environment of a learner's shell: an allow-list, never the server's own. */
export function sandboxEnv(hostname: string, term = "xterm-256color"): Record<string, string> {
  return {
    PATH: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    HOME: "/root",
    USER: "root",
    LOGNAME: "root",
    SHELL: "/bin/bash",
    TERM: term,
    LANG: "C.UTF-8",
    HOSTNAME: hostname,
  };
}
