// What this host can do, for /healthz, `nslab doctor` and the refusal a learner sees when the
// lab cannot run here. Every check reads kernel state directly; none spawns a program. All of
// it is read below a root directory, "/" but for tests, which give fixture trees of a v1, a v2
// and a host without user namespaces.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

import { type CgroupLayout, hostCgroupLayout } from "../sandbox/cgroup";
import { DEFAULT_PARENT } from "../sandbox/cgroup/driver";

export interface FeatureCheck {
  name: string;
  ok: boolean;
  detail: string;
  /** What an operator can do about it, when it fails (or warns). */
  fix?: string;
  /** Passes, but something of the course will not work as written: shown with its fix. */
  warn?: boolean;
}

export interface HostFeatures {
  ok: boolean;
  kernel: string;
  cgroupVersion: 1 | 2 | null;
  checks: FeatureCheck[];
}

function readAt(root: string, file: string): string | null {
  try {
    return fs.readFileSync(path.join(root, file), "utf8");
  } catch {
    return null;
  }
}

/** Filesystems the kernel can present through an idmapped mount, by statfs magic (each one's
 *  FS_ALLOW_IDMAP), with the release that added it. OverlayFS is not one of them: an image on a
 *  container's own root cannot be mounted for a sandbox. */
const IDMAPPABLE: ReadonlyMap<number, { name: string; since: [number, number] }> = new Map([
  [0xef53, { name: "ext4", since: [5, 12] }],
  [0x58465342, { name: "xfs", since: [5, 12] }],
  [0x9123683e, { name: "btrfs", since: [5, 15] }],
  [0xf2f52010, { name: "f2fs", since: [5, 18] }],
  [0x01021994, { name: "tmpfs", since: [6, 3] }],
]);
const NOT_IDMAPPABLE: ReadonlyMap<number, string> = new Map([
  [0x794c7630, "overlayfs"],
  [0x6969, "nfs"],
  [0x65735546, "fuse"],
]);

/** Where the server's session cgroups go on cgroup v2, and whether the kernel will let it hand
 *  them controllers: every cgroup on the way that must enable them may hold no process (the
 *  "no internal processes" rule), but for the hierarchy's root and the server's own cgroup,
 *  whose processes the driver moves into a leaf first (v2.ts, prepare). */
function v2DelegationCheck(root: string, layout: Extract<CgroupLayout, { version: 2 }>, parentPath: string): FeatureCheck {
  const parent = path.posix.join("/", parentPath);
  const busy: string[] = [];
  for (let dir = path.posix.dirname(parent); dir !== "/"; dir = path.posix.dirname(dir)) {
    if (dir === layout.ownPath) continue;
    const procs = readAt(root, path.join(layout.mountPoint, dir, "cgroup.procs"));
    if (procs !== null && procs.trim() !== "") busy.push(dir);
  }
  if (busy.length > 0) {
    return {
      name: "cgroup delegation",
      ok: false,
      detail: `${busy.join(", ")} holds processes, so it cannot hand memory, cpu and pids to ${parent}`,
      fix: "set NSLAB_CGROUP_PARENT below the server's own cgroup (a systemd unit with Delegate=yes: docs/operating.md), or move those processes into a leaf",
    };
  }
  const underOwn = layout.ownPath !== "/" && (parent === layout.ownPath || parent.startsWith(`${layout.ownPath}/`));
  const unit = /\.(service|scope)$/.test(layout.ownPath);
  return {
    name: "cgroup delegation",
    ok: true,
    warn: unit && !underOwn,
    detail: underOwn ? `${parent}, below the server's own cgroup ${layout.ownPath}` : `${parent} (the server runs in ${layout.ownPath})`,
    fix: `the server runs in the systemd unit ${layout.ownPath}, and ${parent} is outside it: systemd may take its controllers back; give the unit Delegate=yes and set NSLAB_CGROUP_PARENT=${layout.ownPath}/sessions`,
  };
}

function kernelAtLeast(release: string, major: number, minor: number): boolean {
  const m = /^(\d+)\.(\d+)/.exec(release);
  if (!m) return false;
  const [maj, min] = [Number(m[1]), Number(m[2])];
  return maj > major || (maj === major && min >= minor);
}

export interface HostPaths {
  launcher: string;
  rootfs: string;
  /** NSLAB_CGROUP_PARENT (default /nslab). */
  cgroupParent?: string;
}

/** `layout`: the host's cgroup layout, when the caller has read it already (it goes on to make
 *  its cgroup driver from the same reading). `root`: where the host's / is (tests). */
export function checkHostFeatures(paths: HostPaths, layout?: CgroupLayout, root = "/"): HostFeatures {
  const read = (file: string) => readAt(root, file);
  const cgroups = layout ?? hostCgroupLayout(root);
  const kernel = root === "/" ? os.release() : (read("proc/sys/kernel/osrelease") ?? "").trim();
  const checks: FeatureCheck[] = [];
  const isRoot = process.getuid?.() === 0;
  checks.push({
    name: "root",
    ok: isRoot,
    detail: isRoot ? "running as root" : `running as uid ${process.getuid?.()}`,
    fix: "run the lab server as root: it creates namespaces, cgroups and mounts for each learner",
  });
  const maxUserNs = Number(read("proc/sys/user/max_user_namespaces") ?? "0");
  const hasUserNs = fs.existsSync(path.join(root, "proc/self/ns/user"));
  checks.push({
    name: "user namespaces",
    ok: maxUserNs > 0 && hasUserNs,
    detail: hasUserNs ? `user.max_user_namespaces = ${maxUserNs}` : "the kernel has no user namespaces (no /proc/self/ns/user)",
    fix: "enable user namespaces: sysctl -w user.max_user_namespaces=15000 (and CONFIG_USER_NS in the kernel)",
  });
  // Ubuntu 23.10 and later: AppArmor confines a process that makes a user namespace without
  // the host's CAP_SYS_ADMIN. The launcher has it; a learner's root inside a sandbox does not,
  // so `unshare --user` there is refused, and so is the course's part on user namespaces.
  const apparmor = (read("proc/sys/kernel/apparmor_restrict_unprivileged_userns") ?? "").trim();
  checks.push({
    name: "AppArmor userns",
    ok: true,
    warn: apparmor === "1",
    detail: apparmor === "" ? "no AppArmor restriction on user namespaces" : `kernel.apparmor_restrict_unprivileged_userns = ${apparmor}${apparmor === "1" ? ": unshare --user inside a sandbox is refused" : ""}`,
    fix: "sysctl -w kernel.apparmor_restrict_unprivileged_userns=0, and the same line in /etc/sysctl.d/60-nslab.conf to keep it (on a host that runs only the lab)",
  });
  const nsTypes = ["pid", "mnt", "net", "uts", "ipc", "cgroup"];
  const missingNs = nsTypes.filter((t) => !fs.existsSync(path.join(root, "proc/self/ns", t)));
  checks.push({
    name: "namespaces",
    ok: missingNs.length === 0,
    detail: missingNs.length ? `missing: ${missingNs.join(", ")}` : `${nsTypes.join(", ")} present`,
    fix: "use a kernel built with CONFIG_PID_NS, CONFIG_NET_NS, CONFIG_UTS_NS, CONFIG_IPC_NS and CONFIG_CGROUPS",
  });
  // The launcher installs a filter in every sandbox (native/seccomp.h) and refuses to start one
  // it could not install; it returns errors and kills the process (its last resort).
  const actions = (read("proc/sys/kernel/seccomp/actions_avail") ?? "").trim().split(/\s+/).filter(Boolean);
  const missingActions = ["errno", "kill_process"].filter((a) => !actions.includes(a));
  checks.push({
    name: "seccomp",
    ok: missingActions.length === 0,
    detail: actions.length === 0 ? "no seccomp filters (no /proc/sys/kernel/seccomp/actions_avail)" : missingActions.length ? `lacks ${missingActions.join(", ")}` : `filters with ${actions.length} actions`,
    fix: "use a kernel built with CONFIG_SECCOMP_FILTER",
  });
  // Signals to a sandbox's processes go through pidfds, so a recycled pid is never hit.
  const pidfd = kernelAtLeast(kernel, 5, 3);
  checks.push({
    name: "pidfd",
    ok: pidfd,
    detail: pidfd ? `pidfd_open and pidfd_send_signal (kernel ${kernel})` : `kernel ${kernel} has no pidfd_open`,
    fix: "use Linux 5.3 or newer",
  });
  const filesystems = read("proc/filesystems") ?? "";
  checks.push({
    name: "overlayfs",
    ok: /\toverlay\n/.test(filesystems),
    detail: /\toverlay\n/.test(filesystems) ? "overlay is registered" : "overlay is not in /proc/filesystems",
    fix: "load the module: modprobe overlay",
  });
  const idmap = kernelAtLeast(kernel, 5, 19);
  checks.push({
    name: "idmapped mounts",
    ok: idmap,
    detail: `kernel ${kernel}`,
    fix: "use Linux 5.19 or newer (OverlayFS over idmapped layers)",
  });
  checks.push(imageFilesystemCheck(paths.rootfs, kernel));
  checks.push({
    name: "cgroups",
    ok: cgroups.version !== null,
    detail: cgroups.version === null ? cgroups.reason : `cgroup v${cgroups.version}`,
    fix: "mount cgroup v2 at /sys/fs/cgroup with memory, cpu and pids controllers, or v1 hierarchies for each",
  });
  if (cgroups.version === 2) checks.push(v2DelegationCheck(root, cgroups, paths.cgroupParent ?? DEFAULT_PARENT));
  if (cgroups.version === 1) {
    // A release_agent set on the host runs as host root whenever a cgroup empties; learners own
    // the notify_on_release of the child cgroups they make (CVE-2022-0492 is this path).
    const armed = cgroups.hierarchies
      .map((h) => `${h.mountPoint}/release_agent`)
      .filter((file) => (read(file) ?? "").trim() !== "");
    checks.push({
      name: "release_agent",
      ok: armed.length === 0,
      detail: armed.length ? `set in ${armed.join(", ")}` : "empty in every hierarchy",
      fix: "clear it (echo > FILE) or move the host to cgroup v2: a learner's child cgroup could trigger it",
    });
  }
  checks.push({
    name: "launcher",
    ok: fs.existsSync(paths.launcher),
    detail: paths.launcher,
    fix: "build it: npm install (needs a C compiler: apt-get install -y gcc)",
  });
  checks.push({
    name: "sandbox image",
    ok: fs.existsSync(path.join(paths.rootfs, "bin/bash")),
    detail: paths.rootfs,
    fix: "build it: npm install (as root), or node native/rootfs.mjs",
  });
  return {
    ok: checks.every((c) => c.ok),
    kernel,
    cgroupVersion: cgroups.version,
    checks,
  };
}

/** The image is presented to each sandbox through an idmapped mount, which only some
 *  filesystems allow: the one it is on, by statfs. */
function imageFilesystemCheck(rootfs: string, kernel: string): FeatureCheck {
  const name = "image filesystem";
  const fix = "put NSLAB_ROOTFS on a disk filesystem such as ext4 or xfs (in a container: a volume, not the container's own root), then run node native/rootfs.mjs";
  let type: number;
  try {
    type = fs.statfsSync(rootfs).type;
  } catch {
    return { name, ok: false, detail: `${rootfs} is not there yet`, fix: "build the image: npm install (as root), or node native/rootfs.mjs" };
  }
  const known = IDMAPPABLE.get(type);
  if (known) {
    const ok = kernelAtLeast(kernel, ...known.since);
    return { name, ok, detail: ok ? `${known.name}, which can be idmapped` : `${known.name} is idmapped from Linux ${known.since.join(".")}, this is ${kernel}`, fix };
  }
  const refused = NOT_IDMAPPABLE.get(type);
  if (refused) return { name, ok: false, detail: `${refused}, which cannot be idmapped`, fix };
  return { name, ok: true, warn: true, detail: `filesystem 0x${type.toString(16)}: whether it can be idmapped is not known here`, fix: `if sandboxes fail with "mount_setattr idmap", ${fix}` };
}

/** One sentence for a learner: why the lab is off on this host. */
export function unsupportedReason(features: HostFeatures): string {
  const failed = features.checks.filter((c) => !c.ok).map((c) => `${c.name} (${c.detail})`);
  return `This server cannot create sandboxes: ${failed.join("; ")}.`;
}
