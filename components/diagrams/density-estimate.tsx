"use client";

// <DensityEstimate /> for lessons: loads after the page, the text version standing in until then.

import dynamic from "next/dynamic";

import { DiagramFrame } from "./diagram-frame";
import { DensityTextVersion } from "./density-estimate-text";

function DensityEstimateLoading() {
  return (
    <DiagramFrame
      id="density-estimate"
      title="How many fit one machine? (reference)"
      mode="reference"
      caption="The drawing is loading; its content is below as text."
      textVersion={<DensityTextVersion mode="reference" estimate={null} hostMemoryBytes={null} footprintBytes={null} appBytes={0} />}
      textVersionOpen
    />
  );
}

export const DensityEstimate = dynamic(() => import("./density-estimate-live").then((m) => m.DensityEstimateLive), {
  ssr: false,
  loading: DensityEstimateLoading,
});
