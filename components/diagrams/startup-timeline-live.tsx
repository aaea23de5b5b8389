"use client";

// The start-up timeline connected to the lab: the launcher's steps from session.ready while a
// session is live, reference figures otherwise.

import { useOptionalLab } from "../lab/lab-context";
import { REFERENCE_STARTUP, timelineBars } from "./startup-model";
import { StartupTimelineView } from "./startup-timeline-view";

const REFERENCE_BARS = timelineBars(REFERENCE_STARTUP);

export function StartupTimelineLive() {
  const lab = useOptionalLab();
  const startup = lab?.state.phase === "ready" ? lab.session?.startup : undefined;
  if (startup && startup.length > 0) return <StartupTimelineView bars={timelineBars(startup)} mode="live" />;
  return <StartupTimelineView bars={REFERENCE_BARS} mode="reference" />;
}
