import fs from "node:fs";
import path from "node:path";

import { type CgroupLayout, detectCgroupLayout } from "./detect";
import type { CgroupDriver } from "./driver";
import { CgroupV1Driver } from "./v1";
import { CgroupV2Driver } from "./v2";

export type { CgroupLayout, UnmanagedHierarchy } from "./detect";
export type { CgroupDriver, CgroupVersion, CreatedCgroup, LimitWrite } from "./driver";
export {
  type SessionCgroup,
  V1_CONTROLLERS,
  type V1Controller,
  type V1SessionCgroup,
  type V2SessionCgroup,
  sessionCgroupDirs,
  v1HierarchyDirs,
} from "./session-cgroup";

function read(file: string): string {
  try {
    return fs.readFileSync(file, "utf8");
  } catch {
    return "";
  }
}

/** This host's cgroup layout; `root` is where the host's / is (a fixture tree in tests). */
export function hostCgroupLayout(root = "/"): CgroupLayout {
  return detectCgroupLayout(
    read(path.join(root, "proc/self/mountinfo")),
    read(path.join(root, "proc/self/cgroup")),
    read(path.join(root, "sys/fs/cgroup", "cgroup.controllers")),
  );
}

/** The driver for this host (from `layout`, when the caller has read it already), or the
 *  reason there is none. */
export function hostCgroupDriver(parentPath?: string, layout: CgroupLayout = hostCgroupLayout()): { driver: CgroupDriver } | { reason: string } {
  if (layout.version === 1) return { driver: new CgroupV1Driver(layout.hierarchies, parentPath, layout.unmanaged) };
  if (layout.version === 2) {
    const driver = new CgroupV2Driver(layout.mountPoint, layout.ownPath, parentPath);
    driver.prepare();
    return { driver };
  }
  return { reason: layout.reason };
}
