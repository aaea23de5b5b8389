// The only module that knows the launcher's command line: it turns a typed options object into
// argv for native/launcher.c. Values are validated by the launcher again before it acts.

export interface LauncherOptions {
  launcherPath: string;
  rootfs: string;
  stateDir: string;
  uidBase: number;
  hostname: string;
  layerBytes: number;
  layerInodes: number;
  tmpBytes: number;
  cgroup: { version: 1; dirs: Record<string, string> } | { version: 2; dir: string };
  statusFile?: string;
  cwd?: string;
  /** The shell's whole environment: nothing of the server's reaches the sandbox. */
  env: Record<string, string>;
  command: string[];
}

export function launcherArgv(o: LauncherOptions): { file: string; args: string[] } {
  if (o.command.length === 0) throw new Error("launcherArgv: empty command");
  const args = [
    "--rootfs", o.rootfs,
    "--state-dir", o.stateDir,
    "--uid-base", String(o.uidBase),
    "--hostname", o.hostname,
    "--layer-bytes", String(o.layerBytes),
    "--layer-inodes", String(o.layerInodes),
    "--tmp-bytes", String(o.tmpBytes),
  ];
  if (o.cgroup.version === 1) {
    for (const [name, dir] of Object.entries(o.cgroup.dirs)) args.push("--cgroup-v1", `${name}=${dir}`);
  } else {
    args.push("--cgroup-v2", o.cgroup.dir);
  }
  if (o.statusFile) args.push("--status-file", o.statusFile);
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
