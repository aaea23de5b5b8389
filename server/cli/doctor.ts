// `nslab doctor`: what this kernel and host support, and how to fix what they lack.
import { loadConfig } from "../config";
import { checkHostFeatures } from "../kernel/features";

export function doctor(projectRoot: string, out: (line: string) => void = console.log): number {
  const config = loadConfig(process.env, projectRoot);
  const features = checkHostFeatures({ launcher: config.launcherPath, rootfs: config.NSLAB_ROOTFS });
  out(`nslab doctor — kernel ${features.kernel}, cgroup ${features.cgroupVersion ? `v${features.cgroupVersion}` : "unusable"}`);
  const width = Math.max(...features.checks.map((c) => c.name.length));
  for (const c of features.checks) {
    out(`  ${c.ok ? "ok  " : "FAIL"}  ${c.name.padEnd(width)}  ${c.detail}`);
    if (!c.ok && c.fix) out(`        ${" ".repeat(width)}  fix: ${c.fix}`);
  }
  out(features.ok ? "This host can run nslab sandboxes." : "This host cannot run nslab sandboxes yet; lessons are still served.");
  return features.ok ? 0 : 1;
}
