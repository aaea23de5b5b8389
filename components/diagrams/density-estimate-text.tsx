// The density estimate as text, for screen readers and while the drawing loads. No d3.

import type { DiagramMode } from "./diagram-frame";
import { type DensityEstimate, REFERENCE_DENSITY, VM_OS_OVERHEAD_BYTES, formatBytes, formatCount } from "./density-model";

export function DensityTextVersion({
  mode,
  estimate,
  hostMemoryBytes,
  footprintBytes,
  appBytes,
}: {
  mode: DiagramMode;
  estimate: DensityEstimate | null;
  hostMemoryBytes: number | null;
  footprintBytes: number | null;
  appBytes: number;
}) {
  if (mode === "reference" || !estimate || hostMemoryBytes === null || footprintBytes === null) {
    return (
      <p>
        Reference, not live: the lesson&apos;s example puts about {REFERENCE_DENSITY.vms} virtual machines or about{" "}
        {REFERENCE_DENSITY.containers} containers on the same hardware, because each VM gives roughly{" "}
        {formatBytes(VM_OS_OVERHEAD_BYTES.low)} to {formatBytes(VM_OS_OVERHEAD_BYTES.high)} of memory to its own operating system
        before the application gets any.
      </p>
    );
  }
  return (
    <p>
      Estimate from your sandbox: this host has {formatBytes(hostMemoryBytes)} of memory. Your sandbox uses{" "}
      {formatBytes(footprintBytes)}
      {appBytes > 0 ? `, plus ${formatBytes(appBytes)} for the application` : ""}, so about {formatCount(estimate.containers)}{" "}
      containers like it would fit. With {formatBytes(VM_OS_OVERHEAD_BYTES.low)} to {formatBytes(VM_OS_OVERHEAD_BYTES.high)} of
      operating system per VM{appBytes > 0 ? " plus the same application" : ""}, {formatCount(estimate.vmsLow)} to{" "}
      {formatCount(estimate.vmsHigh)} VMs would. Memory only: CPU, disk and the host&apos;s own needs are left out.
    </p>
  );
}
