// Which cgroup version this host runs, and where its hierarchies are mounted, from
// /proc/self/mountinfo and /proc/self/cgroup (passed in, so tests use fixtures).
import { V1_CONTROLLERS } from "./session-cgroup";

export interface V1Hierarchy {
  /** Controllers mounted together, e.g. ["cpu", "cpuacct"]. */
  controllers: string[];
  mountPoint: string;
  /** This process's cgroup in the hierarchy, e.g. "/system.slice/nslab.service". */
  ownPath: string;
}

/**
 * A hierarchy mounted on a v1 host that sets no limit nslab uses: cpuset, devices, freezer,
 * blkio, net_cls, perf_event, hugetlb, rdma, misc, a named one (name=systemd), or the cgroup2
 * hierarchy a hybrid host mounts beside its v1 ones. A sandbox left in the cgroup it started
 * in there could mount the hierarchy inside and see the host's tree from the root; so it gets
 * a leaf of its own in each (runc and LXC do the same).
 */
export interface UnmanagedHierarchy {
  /** The mount options that name it ("cpuset", "net_cls,net_prio", "name=systemd"), or
   *  "cgroup2" for the hybrid host's unified hierarchy. */
  name: string;
  mountPoint: string;
  /** The server's own cgroup in it ("/" when /proc/self/cgroup does not name it). */
  ownPath: string;
}

export type CgroupLayout =
  | { version: 2; mountPoint: string; ownPath: string; controllers: string[] }
  | { version: 1; hierarchies: V1Hierarchy[]; unmanaged: UnmanagedHierarchy[] }
  | { version: null; reason: string };

/** Controllers a sandbox needs limits from (on v1 also cpuacct: see detectCgroupLayout). */
export const REQUIRED_CONTROLLERS = ["memory", "cpu", "pids"] as const;

interface MountLine {
  /** The filesystem's device number ("0:29"): one per hierarchy, however often it is mounted. */
  device: string;
  mountPoint: string;
  fsType: string;
  superOptions: string[];
}

function unescapeMountPath(p: string): string {
  return p.replace(/\\(\d{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}

export function parseMountinfo(text: string): MountLine[] {
  const lines: MountLine[] = [];
  for (const line of text.split("\n")) {
    if (!line) continue;
    const sep = line.indexOf(" - ");
    if (sep < 0) continue;
    const left = line.slice(0, sep).split(" ");
    const right = line.slice(sep + 3).split(" ");
    lines.push({
      device: left[2] ?? "",
      mountPoint: unescapeMountPath(left[4] ?? ""),
      fsType: right[0] ?? "",
      superOptions: (right[2] ?? "").split(","),
    });
  }
  return lines;
}

/** /proc/<pid>/cgroup: hierarchy id -> path, keyed by controller list ("" for v2). */
export function parseProcCgroup(text: string): Map<string, string> {
  const map = new Map<string, string>();
  for (const line of text.split("\n")) {
    const m = /^(\d+):([^:]*):(.*)$/.exec(line);
    if (m) map.set(m[2] ?? "", m[3] ?? "/");
  }
  return map;
}

export function detectCgroupLayout(mountinfo: string, procSelfCgroup: string, controllersFile?: string): CgroupLayout {
  const mounts = parseMountinfo(mountinfo);
  const own = parseProcCgroup(procSelfCgroup);
  const unified = mounts.find((m) => m.fsType === "cgroup2" && m.mountPoint === "/sys/fs/cgroup");
  if (unified) {
    const controllers = (controllersFile ?? "").trim().split(/\s+/).filter(Boolean);
    const missing = REQUIRED_CONTROLLERS.filter((c) => !controllers.includes(c));
    if (missing.length) return { version: null, reason: `cgroup v2 lacks the ${missing.join(", ")} controller(s)` };
    return { version: 2, mountPoint: unified.mountPoint, ownPath: own.get("") ?? "/", controllers };
  }
  const hierarchies: V1Hierarchy[] = [];
  const unmanaged: UnmanagedHierarchy[] = [];
  const seen = new Set<string>();
  for (const m of mounts) {
    if (m.fsType !== "cgroup" && m.fsType !== "cgroup2") continue;
    // A hierarchy mounted twice (a bind mount of it) is one hierarchy, at its first place.
    if (seen.has(m.device)) continue;
    seen.add(m.device);
    const controllers = m.fsType === "cgroup" ? m.superOptions.filter((o) => (V1_CONTROLLERS as readonly string[]).includes(o)) : [];
    if (!controllers.length) {
      const name = m.fsType === "cgroup2" ? "cgroup2" : m.superOptions.filter(isHierarchyName).join(",");
      if (name) unmanaged.push({ name, mountPoint: m.mountPoint, ownPath: own.get(name === "cgroup2" ? "" : name) ?? "/" });
      continue;
    }
    const key = [...own.keys()].find((k) => k.split(",").some((c) => controllers.includes(c)));
    hierarchies.push({ controllers, mountPoint: m.mountPoint, ownPath: key !== undefined ? (own.get(key) ?? "/") : "/" });
  }
  const have = new Set(hierarchies.flatMap((h) => h.controllers));
  // v1 counts CPU time in a cpuacct hierarchy of its own (or mounted with cpu), and a session
  // has a directory in the hierarchy of each of these (session-cgroup.ts).
  const missing = V1_CONTROLLERS.filter((c) => !have.has(c));
  if (hierarchies.length === 0) return { version: null, reason: "no cgroup filesystem is mounted at /sys/fs/cgroup" };
  if (missing.length) return { version: null, reason: `cgroup v1 lacks the ${missing.join(", ")} controller(s)` };
  return { version: 1, hierarchies, unmanaged };
}

/** Mount options of a v1 cgroup that name its controllers or its name, not its flags. */
function isHierarchyName(option: string): boolean {
  if (option.startsWith("name=")) return true;
  return /^[a-z_]+$/.test(option) && !["rw", "ro", "noprefix", "clone_children", "xattr", "cpuset_v2_mode", "favordynmods", "nofavordynmods", "none", "all"].includes(option);
}
