// A sandbox's resource limits, in the units `docker run` uses, and the defaults of a lab
// session (the first lesson's own example: --memory 256m --memory-swap 256m --cpus 0.5
// --pids-limit 100).

import { LAB_DEFAULT_LIMITS, type Limits, MiB } from "../../common/limits";

export type { Limits };
export { MiB };

/** The built-in defaults; a lab server's own come from its settings (Config.defaultLimits). */
export const DEFAULT_LIMITS: Readonly<Limits> = LAB_DEFAULT_LIMITS;

/** The CFS period both cgroup versions use by default; quota = cpus × period. */
export const CPU_PERIOD_US = 100_000;

export function cpuQuotaUs(cpus: number): number {
  return Math.round(cpus * CPU_PERIOD_US);
}
