// A sandbox's resource limits, in the units `docker run` uses, and the defaults of a lab
// session (the first lesson's own example: --memory 256m --memory-swap 256m --cpus 0.5
// --pids-limit 100).

import { type Limits, MiB } from "../../common/limits";

export type { Limits };
export { MiB };

export const DEFAULT_LIMITS: Readonly<Limits> = Object.freeze({
  memoryBytes: 256 * MiB,
  memorySwapBytes: 256 * MiB,
  cpus: 0.5,
  pids: 100,
});

/** The CFS period both cgroup versions use by default; quota = cpus × period. */
export const CPU_PERIOD_US = 100_000;

export function cpuQuotaUs(cpus: number): number {
  return Math.round(cpus * CPU_PERIOD_US);
}
