// How many containers like the learner's, and how many reference VMs, would fit this host's
// memory: an estimate from the sandbox's measured memory use and the lesson's VM figures. Memory
// only — CPU, disk, the kernel's own per-process costs and the host's own needs are left out —
// and said so wherever it is shown.

export const GiB = 1024 * 1024 * 1024;
export const MiB = 1024 * 1024;

/** The guest OS's own memory in a VM (a 16 GB Ubuntu VM loses roughly 1–2 GB to it). */
export const VM_OS_OVERHEAD_BYTES = { low: 1 * GiB, high: 2 * GiB } as const;

/** The lesson's reference example: on the same hardware, about 5 VMs or 150 containers. */
export const REFERENCE_DENSITY = { vms: 5, containers: 150 } as const;

/** Application sizes the learner can try, added to both sides alike. */
export const APP_SIZES_BYTES = [0, 64 * MiB, 256 * MiB, 1 * GiB] as const;

export interface DensityInput {
  hostMemoryBytes: number;
  /** The sandbox's measured memory use (its cgroup's usage). */
  containerFootprintBytes: number;
  /** What the application itself needs, the same inside a VM or a container. */
  appBytes: number;
}

export interface DensityEstimate {
  containers: number;
  /** With 2 GB of OS overhead per VM (fewest) and with 1 GB (most). */
  vmsLow: number;
  vmsHigh: number;
}

export function estimateDensity({ hostMemoryBytes, containerFootprintBytes, appBytes }: DensityInput): DensityEstimate {
  if (!(hostMemoryBytes > 0)) throw new Error("estimateDensity: hostMemoryBytes must be positive");
  if (!(containerFootprintBytes > 0)) throw new Error("estimateDensity: containerFootprintBytes must be positive");
  if (!(appBytes >= 0)) throw new Error("estimateDensity: appBytes must not be negative");
  const fit = (each: number) => Math.floor(hostMemoryBytes / each);
  return {
    containers: fit(containerFootprintBytes + appBytes),
    vmsLow: fit(VM_OS_OVERHEAD_BYTES.high + appBytes),
    vmsHigh: fit(VM_OS_OVERHEAD_BYTES.low + appBytes),
  };
}

export function formatBytes(bytes: number): string {
  if (bytes >= GiB) return `${(bytes / GiB).toFixed(bytes % GiB === 0 ? 0 : 1)} GiB`;
  if (bytes >= MiB) return `${(bytes / MiB).toFixed(bytes >= 100 * MiB || bytes % MiB === 0 ? 0 : 1)} MiB`;
  return `${Math.round(bytes / 1024)} KiB`;
}

export function formatCount(n: number): string {
  return n.toLocaleString("en-US");
}
