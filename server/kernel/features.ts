// What this host can do, for /healthz, `nslab doctor` and the refusal a learner sees when the
// lab cannot run here. Every check reads kernel state directly; none spawns a program.
import fs from "node:fs";
import os from "node:os";

import { type CgroupLayout, hostCgroupLayout } from "../sandbox/cgroup";

export interface FeatureCheck {
  name: string;
  ok: boolean;
  detail: string;
  /** What an operator can do about it, when it fails. */
  fix?: string;
}

export interface HostFeatures {
  ok: boolean;
  kernel: string;
  cgroupVersion: 1 | 2 | null;
  checks: FeatureCheck[];
}

function read(file: string): string | null {
  try {
    return fs.readFileSync(file, "utf8");
  } catch {
    return null;
  }
}

function kernelAtLeast(release: string, major: number, minor: number): boolean {
  const m = /^(\d+)\.(\d+)/.exec(release);
  if (!m) return false;
  const [maj, min] = [Number(m[1]), Number(m[2])];
  return maj > major || (maj === major && min >= minor);
}

/** `layout`: the host's cgroup layout, when the caller has read it already (it goes on to make
 *  its cgroup driver from the same reading). */
export function checkHostFeatures(paths: { launcher: string; rootfs: string }, layout: CgroupLayout = hostCgroupLayout()): HostFeatures {
  const kernel = os.release();
  const checks: FeatureCheck[] = [];
  const isRoot = process.getuid?.() === 0;
  checks.push({
    name: "root",
    ok: isRoot,
    detail: isRoot ? "running as root" : `running as uid ${process.getuid?.()}`,
    fix: "run the lab server as root: it creates namespaces, cgroups and mounts for each learner",
  });
  const maxUserNs = Number(read("/proc/sys/user/max_user_namespaces") ?? "0");
  checks.push({
    name: "user namespaces",
    ok: maxUserNs > 0 && fs.existsSync("/proc/self/ns/user"),
    detail: `user.max_user_namespaces = ${maxUserNs}`,
    fix: "enable user namespaces: sysctl -w user.max_user_namespaces=15000 (and CONFIG_USER_NS in the kernel)",
  });
  const nsTypes = ["pid", "mnt", "net", "uts", "ipc", "cgroup"];
  const missingNs = nsTypes.filter((t) => !fs.existsSync(`/proc/self/ns/${t}`));
  checks.push({
    name: "namespaces",
    ok: missingNs.length === 0,
    detail: missingNs.length ? `missing: ${missingNs.join(", ")}` : `${nsTypes.join(", ")} present`,
    fix: "use a kernel built with CONFIG_PID_NS, CONFIG_NET_NS, CONFIG_UTS_NS, CONFIG_IPC_NS and CONFIG_CGROUPS",
  });
  const filesystems = read("/proc/filesystems") ?? "";
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
  checks.push({
    name: "cgroups",
    ok: layout.version !== null,
    detail: layout.version === null ? layout.reason : `cgroup v${layout.version}`,
    fix: "mount cgroup v2 at /sys/fs/cgroup with memory, cpu and pids controllers, or v1 hierarchies for each",
  });
  if (layout.version === 1) {
    // A release_agent set on the host runs as host root whenever a cgroup empties; learners own
    // the notify_on_release of the child cgroups they make (CVE-2022-0492 is this path).
    const armed = layout.hierarchies
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
    ok: fs.existsSync(`${paths.rootfs}/bin/bash`),
    detail: paths.rootfs,
    fix: "build it: npm install (as root), or node native/rootfs.mjs",
  });
  return {
    ok: checks.every((c) => c.ok),
    kernel,
    cgroupVersion: layout.version,
    checks,
  };
}

/** One sentence for a learner: why the lab is off on this host. */
export function unsupportedReason(features: HostFeatures): string {
  const failed = features.checks.filter((c) => !c.ok).map((c) => `${c.name} (${c.detail})`);
  return `This server cannot create sandboxes: ${failed.join("; ")}.`;
}
