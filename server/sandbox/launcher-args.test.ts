// The launcher's argv from the session's cgroup: one --cgroup-v1 per hierarchy, named by the
// controllers mounted in it, which the launcher uses as the mount options of that hierarchy
// inside the sandbox.
import { describe, expect, it } from "vitest";

import type { SessionCgroup } from "./cgroup/session-cgroup";
import { type LauncherOptions, launcherArgv } from "./launcher-args";

function argvFor(cgroup: SessionCgroup, layer: LauncherOptions["layer"] = { layerBytes: 64 << 20, layerInodes: 4096, tmpBytes: 16 << 20 }): string[] {
  return launcherArgv({
    launcherPath: "/opt/nslab/nslab-launcher",
    rootfs: "/var/lib/nslab/rootfs",
    mountDir: "/run/nslab/sessions/abcdef0123456789/mnt",
    uidBase: 1 << 20,
    hostname: "lab-abcdef",
    layer,
    shmBytes: 8 << 20,
    cgroup,
    env: { PATH: "/usr/bin:/bin" },
    command: ["/bin/true"],
  }).args;
}

/** The values of every `flag` in argv, in order. */
function values(argv: string[], flag: string): string[] {
  return argv.flatMap((arg, i) => (arg === flag ? [argv[i + 1] ?? ""] : []));
}

describe("launcherArgv", () => {
  it("names a co-mounted cpu,cpuacct hierarchy once, with both controllers", () => {
    const cpu = "/sys/fs/cgroup/cpu,cpuacct/nslab/abcdef0123456789";
    const argv = argvFor({ version: 1, memory: "/sys/fs/cgroup/memory/nslab/abcdef0123456789", cpu, cpuacct: cpu, pids: "/sys/fs/cgroup/pids/nslab/abcdef0123456789" });
    expect(values(argv, "--cgroup-v1")).toEqual([
      "memory=/sys/fs/cgroup/memory/nslab/abcdef0123456789",
      `cpu,cpuacct=${cpu}`,
      "pids=/sys/fs/cgroup/pids/nslab/abcdef0123456789",
    ]);
    expect(values(argv, "--cgroup-v2")).toEqual([]);
  });

  it("gives cpu and cpuacct an entry each where the host mounts them apart", () => {
    const dir = (c: string) => `/sys/fs/cgroup/${c}/nslab/abcdef0123456789`;
    const argv = argvFor({ version: 1, memory: dir("memory"), cpu: dir("cpu"), cpuacct: dir("cpuacct"), pids: dir("pids") });
    expect(values(argv, "--cgroup-v1")).toEqual(["memory", "cpu", "cpuacct", "pids"].map((c) => `${c}=${dir(c)}`));
  });

  it("passes the one v2 directory, and the mount directory", () => {
    const argv = argvFor({ version: 2, dir: "/sys/fs/cgroup/nslab/abcdef0123456789" });
    expect(values(argv, "--cgroup-v2")).toEqual(["/sys/fs/cgroup/nslab/abcdef0123456789"]);
    expect(values(argv, "--cgroup-v1")).toEqual([]);
    expect(values(argv, "--mount-dir")).toEqual(["/run/nslab/sessions/abcdef0123456789/mnt"]);
    expect(argv.slice(-2)).toEqual(["--", "/bin/true"]);
  });

  it("names the layer's image on disk, and no tmpfs sizes beside it (the launcher refuses both)", () => {
    const argv = argvFor({ version: 2, dir: "/sys/fs/cgroup/nslab/abcdef0123456789" }, { image: "/var/lib/nslab/layers/abcdef0123456789.img" });
    expect(values(argv, "--layer-image")).toEqual(["/var/lib/nslab/layers/abcdef0123456789.img"]);
    expect([...values(argv, "--layer-bytes"), ...values(argv, "--layer-inodes"), ...values(argv, "--tmp-bytes")]).toEqual([]);
    expect(values(argv, "--shm-bytes")).toEqual([String(8 << 20)]);
  });

  it("names a layer mounted ahead by its descriptor alone", () => {
    const argv = argvFor({ version: 2, dir: "/sys/fs/cgroup/nslab/abcdef0123456789" }, { mountFd: 4 });
    expect(values(argv, "--layer-fd")).toEqual(["4"]);
    expect([...values(argv, "--layer-image"), ...values(argv, "--layer-bytes"), ...values(argv, "--layer-inodes"), ...values(argv, "--tmp-bytes")]).toEqual([]);
  });

  it("gives a tmpfs layer its sizes and /tmp's", () => {
    const argv = argvFor({ version: 2, dir: "/sys/fs/cgroup/nslab/abcdef0123456789" });
    expect(values(argv, "--layer-image")).toEqual([]);
    expect([values(argv, "--layer-bytes"), values(argv, "--layer-inodes"), values(argv, "--tmp-bytes")]).toEqual([[String(64 << 20)], ["4096"], [String(16 << 20)]]);
  });
});
