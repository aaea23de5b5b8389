// Test gate for tests that need real kernel features. Elsewhere such a test skips and says
// why; under CI=true a missing feature fails the run, so CI can never pass by skipping.
import { spawnSync } from "node:child_process";

import { checkHostFeatures } from "../kernel/features";
import { layerSupport } from "../sandbox/layer-disk";
import { projectRoot } from "../project-root";

export const PROJECT_ROOT = projectRoot;
export const LAUNCHER = process.env.NSLAB_LAUNCHER ?? `${PROJECT_ROOT}/build/nslab-launcher`;
export const ROOTFS = process.env.NSLAB_ROOTFS ?? "/var/lib/nslab/rootfs";

/** Null when sandboxes can run here; otherwise the reason (and it throws under CI). */
export function sandboxUnavailable(): string | null {
  const features = checkHostFeatures({ launcher: LAUNCHER, rootfs: ROOTFS });
  if (features.ok) return null;
  const reason = features.checks
    .filter((c) => !c.ok)
    .map((c) => `${c.name}: ${c.detail}`)
    .join("; ");
  if (process.env.CI === "true") throw new Error(`CI needs real sandboxes, but this machine lacks: ${reason}`);
  return reason;
}

/** A SandboxHost's options for tests: the built launcher and image, a run directory of the
 *  test's own, and small writable layers. */
export function testHostOptions(runDir: string) {
  return {
    launcherPath: LAUNCHER,
    rootfs: ROOTFS,
    runDir,
    layerBytes: 64 * 1024 * 1024,
    layerInodes: 16384,
    tmpBytes: 16 * 1024 * 1024,
  };
}

/** The loop devices attached now, by the inode of their backing file (a layer image's). */
export function loopBackingInodes(): number[] {
  const listed = spawnSync("losetup", ["--list", "--noheadings", "--raw", "--output", "BACK-INO"], { encoding: "utf8" });
  return listed.stdout.split("\n").filter(Boolean).map(Number);
}

/** Null when writable layers can go on disk under `dir` (loop devices, ext4, not a tmpfs);
 *  otherwise the reason (and it throws under CI, where a run on tmpfs layers tests nothing). */
export function diskLayersUnavailable(dir = "/var/tmp"): string | null {
  const support = layerSupport(dir);
  if (support.mode === "disk") return null;
  if (process.env.CI === "true") throw new Error(`CI: layers cannot go on disk here: ${support.reason}`);
  return support.reason;
}
