// The host checks of /healthz, `nslab doctor` and the server's start, read from fixture trees
// laid out as /proc and /sys are on three hosts: cgroup v1, cgroup v2 under systemd, and a
// kernel without user namespaces; then the variations an operator meets (AppArmor's userns
// restriction, no seccomp, a cgroup that holds processes on the way to the sessions' parent).
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

import { afterEach, beforeEach, describe, expect, it } from "vitest";

import { checkHostFeatures, type FeatureCheck, type HostFeatures } from "./features";

let tree: string;
beforeEach(() => {
  tree = fs.mkdtempSync(path.join(os.tmpdir(), "nslab-features-"));
});
afterEach(() => fs.rmSync(tree, { recursive: true, force: true }));

function put(file: string, text = ""): void {
  fs.mkdirSync(path.dirname(path.join(tree, file)), { recursive: true });
  fs.writeFileSync(path.join(tree, file), text);
}

/** What every host below has: a kernel, user namespaces, seccomp, OverlayFS, a launcher and an
 *  image (a real directory on this machine's disk, for its statfs). */
function baseHost({ userNamespaces = true } = {}): { launcher: string; rootfs: string } {
  put("proc/sys/kernel/osrelease", "6.8.0-45-generic\n");
  put("proc/sys/user/max_user_namespaces", userNamespaces ? "63704\n" : "0\n");
  for (const ns of ["pid", "mnt", "net", "uts", "ipc", "cgroup", ...(userNamespaces ? ["user"] : [])]) put(`proc/self/ns/${ns}`);
  put("proc/filesystems", "nodev\tsysfs\nnodev\ttmpfs\n\text4\nnodev\toverlay\n");
  put("proc/sys/kernel/seccomp/actions_avail", "kill_process kill_thread trap errno user_notif trace log allow\n");
  put("image/bin/bash");
  put("build/nslab-launcher");
  return { launcher: path.join(tree, "build/nslab-launcher"), rootfs: path.join(tree, "image") };
}

function v1Host(): { launcher: string; rootfs: string } {
  const paths = baseHost();
  put(
    "proc/self/mountinfo",
    [
      "27 1 254:0 / / rw,relatime - ext4 /dev/vda rw",
      "31 27 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755",
      "32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct",
      "35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory",
      "39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids",
      "",
    ].join("\n"),
  );
  put("proc/self/cgroup", "4:pids:/\n3:memory:/\n2:cpu,cpuacct:/\n");
  for (const h of ["cpu,cpuacct", "memory", "pids"]) put(`sys/fs/cgroup/${h}/release_agent`, "\n");
  return paths;
}

function v2Host(own = "/system.slice/nslab.service"): { launcher: string; rootfs: string } {
  const paths = baseHost();
  put("proc/self/mountinfo", "27 1 254:0 / / rw,relatime - ext4 /dev/vda rw\n30 27 0:26 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n");
  put("proc/self/cgroup", `0::${own}\n`);
  put("sys/fs/cgroup/cgroup.controllers", "cpuset cpu io memory hugetlb pids rdma misc\n");
  put("sys/fs/cgroup/cgroup.procs", "1\n");
  put("sys/fs/cgroup/system.slice/cgroup.procs", "");
  put(`sys/fs/cgroup${own}/cgroup.procs`, "4242\n");
  return paths;
}

const check = (features: HostFeatures, name: string): FeatureCheck | undefined => features.checks.find((c) => c.name === name);
const failed = (features: HostFeatures) => features.checks.filter((c) => !c.ok).map((c) => c.name);
const warned = (features: HostFeatures) => features.checks.filter((c) => c.warn).map((c) => c.name);

describe("the host checks, on fixture trees", () => {
  it("pass on a cgroup v1 host, release_agent included", () => {
    const features = checkHostFeatures(v1Host(), undefined, tree);
    expect(failed(features)).toEqual(process.getuid?.() === 0 ? [] : ["root"]);
    expect(features).toMatchObject({ kernel: "6.8.0-45-generic", cgroupVersion: 1 });
    expect(features.checks.map((c) => c.name)).toEqual([
      "root", "user namespaces", "AppArmor userns", "namespaces", "seccomp", "pidfd", "overlayfs",
      "idmapped mounts", "image filesystem", "cgroups", "release_agent", "launcher", "sandbox image",
    ]);
    expect(check(features, "seccomp")?.detail).toBe("filters with 8 actions");
    // (The image is in this machine's temporary directory, whose filesystem may be one the
    // check cannot vouch for: a warning of its own, tested below.)
    expect(warned(features).filter((name) => name !== "image filesystem")).toEqual([]);
  });

  it("fail a v1 host whose release_agent is set, naming the file", () => {
    const paths = v1Host();
    put("sys/fs/cgroup/memory/release_agent", "/usr/local/bin/cleanup\n");
    const features = checkHostFeatures(paths, undefined, tree);
    expect(features.ok).toBe(false);
    expect(check(features, "release_agent")).toMatchObject({ ok: false, detail: "set in /sys/fs/cgroup/memory/release_agent" });
  });

  it("pass on a cgroup v2 host whose sessions go below the server's own unit, and fail where a cgroup on the way holds processes", () => {
    const own = "/system.slice/nslab.service";
    const paths = v2Host(own);
    const below = checkHostFeatures({ ...paths, cgroupParent: `${own}/sessions` }, undefined, tree);
    expect(below).toMatchObject({ cgroupVersion: 2 });
    expect(check(below, "cgroup delegation")).toEqual({ name: "cgroup delegation", ok: true, warn: false, detail: `${own}/sessions, below the server's own cgroup ${own}`, fix: expect.any(String) });
    expect(below.checks.map((c) => c.name)).not.toContain("release_agent");

    // The default parent, /nslab, is outside the unit: systemd may take its controllers back.
    const outside = checkHostFeatures(paths, undefined, tree);
    expect(check(outside, "cgroup delegation")).toMatchObject({ ok: true, warn: true, fix: expect.stringContaining(`Delegate=yes and set NSLAB_CGROUP_PARENT=${own}/sessions`) });

    // A process in /system.slice: the kernel refuses to enable controllers below it.
    put("sys/fs/cgroup/system.slice/cgroup.procs", "777\n");
    const busy = checkHostFeatures({ ...paths, cgroupParent: `${own}/sessions` }, undefined, tree);
    expect(busy.ok).toBe(false);
    expect(check(busy, "cgroup delegation")).toMatchObject({ ok: false, detail: `/system.slice holds processes, so it cannot hand memory, cpu and pids to ${own}/sessions` });
  });

  it("fail a v2 host whose root lacks a controller the sandboxes need", () => {
    const paths = v2Host();
    put("sys/fs/cgroup/cgroup.controllers", "cpuset cpu io\n");
    const features = checkHostFeatures(paths, undefined, tree);
    expect(check(features, "cgroups")).toMatchObject({ ok: false, detail: "cgroup v2 lacks the memory, pids controller(s)" });
    expect(features.cgroupVersion).toBeNull();
  });

  it("fail a host without user namespaces, with the fix", () => {
    const paths = baseHost({ userNamespaces: false });
    put("proc/self/mountinfo", "");
    const features = checkHostFeatures(paths, undefined, tree);
    expect(features.ok).toBe(false);
    expect(check(features, "user namespaces")).toMatchObject({
      ok: false,
      detail: "the kernel has no user namespaces (no /proc/self/ns/user)",
      fix: expect.stringContaining("sysctl -w user.max_user_namespaces="),
    });
    expect(failed(features)).toEqual(expect.arrayContaining(["user namespaces", "cgroups"]));
  });

  it("warn where AppArmor refuses user namespaces to the learners' root, and pass where it is off", () => {
    const paths = v1Host();
    put("proc/sys/kernel/apparmor_restrict_unprivileged_userns", "1\n");
    const on = checkHostFeatures(paths, undefined, tree);
    expect(check(on, "AppArmor userns")).toMatchObject({
      ok: true,
      warn: true,
      detail: "kernel.apparmor_restrict_unprivileged_userns = 1: unshare --user inside a sandbox is refused",
      fix: expect.stringContaining("sysctl -w kernel.apparmor_restrict_unprivileged_userns=0"),
    });
    put("proc/sys/kernel/apparmor_restrict_unprivileged_userns", "0\n");
    expect(check(checkHostFeatures(paths, undefined, tree), "AppArmor userns")).toMatchObject({ ok: true, warn: false });
  });

  it("fail a kernel without seccomp filters, or too old for pidfds and idmapped mounts", () => {
    const paths = v1Host();
    fs.rmSync(path.join(tree, "proc/sys/kernel/seccomp"), { recursive: true });
    put("proc/sys/kernel/osrelease", "5.2.21\n");
    const features = checkHostFeatures(paths, undefined, tree);
    expect(check(features, "seccomp")).toMatchObject({ ok: false, detail: "no seccomp filters (no /proc/sys/kernel/seccomp/actions_avail)" });
    expect(check(features, "pidfd")).toMatchObject({ ok: false, detail: "kernel 5.2.21 has no pidfd_open", fix: "use Linux 5.3 or newer" });
    expect(failed(features)).toEqual(expect.arrayContaining(["seccomp", "pidfd", "idmapped mounts"]));
  });

  it("names the image's filesystem, and fails an image that is not there", () => {
    const paths = v1Host();
    const here = checkHostFeatures(paths, undefined, tree);
    // This machine's temporary directory: whatever it is, the check names it or says it cannot tell.
    expect(check(here, "image filesystem")?.detail).toMatch(/^(ext4|xfs|btrfs|f2fs|tmpfs), which can be idmapped$|^filesystem 0x[0-9a-f]+: whether|^overlayfs, which cannot be idmapped$/);
    const gone = checkHostFeatures({ ...paths, rootfs: path.join(tree, "no-image") }, undefined, tree);
    expect(check(gone, "image filesystem")).toMatchObject({ ok: false, detail: `${path.join(tree, "no-image")} is not there yet` });
  });
});
