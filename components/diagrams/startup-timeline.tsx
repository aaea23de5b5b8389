"use client";

// <StartupTimeline /> for lessons: loads after the page (the text version stands in until then),
// then draws the learner's own start-up when a session is live, and reference figures when not.

import dynamic from "next/dynamic";

import { DiagramFrame } from "./diagram-frame";
import { REFERENCE_STARTUP, timelineBars } from "./startup-model";
import { StartupTextVersion } from "./startup-timeline-text";

function StartupTimelineLoading() {
  return (
    <DiagramFrame
      id="startup-timeline"
      title="How a sandbox starts, step by step"
      mode="reference"
      caption="The drawing is loading; its content is below as text."
      textVersion={<StartupTextVersion bars={timelineBars(REFERENCE_STARTUP)} mode="reference" />}
      textVersionOpen
    />
  );
}

export const StartupTimeline = dynamic(() => import("./startup-timeline-live").then((m) => m.StartupTimelineLive), {
  ssr: false,
  loading: StartupTimelineLoading,
});
