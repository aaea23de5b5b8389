"use client";

// <StackDiagram /> for lessons. The drawing and d3 load after the page, so the lesson's text is
// never waiting for them; until then the figure's text version stands in, with reference
// figures. Once loaded, the container side follows the learner's sandbox when one is connected,
// and shows reference figures when not (no backend, lab full, shell ended).

import dynamic from "next/dynamic";

import { DiagramFrame } from "./diagram-frame";
import { StackTextVersion } from "./stack-diagram-text";
import { containerStack, vmStack } from "./stack-model";

function StackDiagramLoading() {
  return (
    <DiagramFrame
      id="stack-diagram"
      title="Virtual machines and containers, layer by layer"
      mode="reference"
      caption="The drawing is loading; its content is below as text."
      textVersion={<StackTextVersion vm={vmStack()} container={containerStack(null)} facts={null} />}
      textVersionOpen
    />
  );
}

export const StackDiagram = dynamic(() => import("./stack-diagram-live").then((m) => m.StackDiagramLive), {
  ssr: false,
  loading: StackDiagramLoading,
});
