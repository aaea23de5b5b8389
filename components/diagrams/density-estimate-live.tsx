"use client";

// The density estimate connected to the lab: the host's memory from session.ready and the
// sandbox's measured memory use from the latest probe; reference figures without a live session.

import { useOptionalLab } from "../lab/lab-context";
import { DensityEstimateView } from "./density-estimate-view";

export function DensityEstimateLive() {
  const lab = useOptionalLab();
  const session = lab?.state.phase === "ready" ? lab.session : null;
  const usage = session ? (lab?.live?.cgroup.memory.usageBytes.value ?? null) : null;
  return <DensityEstimateView hostMemoryBytes={session && usage !== null ? session.host.memoryBytes : null} footprintBytes={usage} />;
}
