// The lab as the rest of the page sees it: one session per page, shared by the terminal, the
// live charts and inspector, the limits panel, the lesson's Run buttons, its lab steps and its
// diagrams. LabProvider (lab-provider.tsx) owns the one WebSocket and implements this; every
// other component only calls useLab().

import { createContext, useContext } from "react";

import type { Broadcast } from "../../common/classroom";
import type { ProbeSnapshot } from "../../common/lab-state";
import type { Limits, LimitField } from "../../common/limits";
import type { CgroupFileWrite, StepProgress } from "../../common/protocol";
import type { LabState, SessionReady } from "../terminal/lab-state";

/** One point of the charts' history, taken from a probe snapshot. */
export interface ResourceSample {
  atMs: number;
  memoryUsageBytes: number | null;
  memoryLimitBytes: number | null;
  swapUsageBytes: number | null;
  pidsCurrent: number | null;
  pidsLimit: number | null;
  /** CPU used since the previous sample, in CPUs (0.5 = half a core). */
  cpuUsage: number | null;
  /** CPUs the quota allows (quota / period; docker --cpus), null for no quota. */
  cpuQuota: number | null;
  /** Periods throttled since the previous sample. */
  throttledPeriods: number | null;
}

/** An OOM kill seen in the stream (the count went up between two samples). */
export interface OomEvent {
  atMs: number;
  /** The count after the kill(s). */
  oomKillCount: number;
}

export type LimitsUpdateResult = { ok: true; limits: Limits; cgroupFiles: CgroupFileWrite[] } | { ok: false; field: LimitField | null; message: string };

/** A learner's class, as their page knows it. */
export interface ClassroomInfo {
  classId: string;
  className: string;
  /** The name the learner joined under. */
  displayName: string;
}

export interface LabApi {
  state: LabState;
  /** The session.ready message of the live session, or null. */
  session: SessionReady | null;
  /** Whether this page types into the sandbox ("owner") or only watches it; null when none. */
  role: "owner" | "watcher" | null;
  /** The latest kernel state (namespaces, processes, cgroup counters); null until the first
   *  probe, and when no session is live. */
  live: ProbeSnapshot | null;
  /** The last few minutes of samples, oldest first, for the charts. */
  history: readonly ResourceSample[];
  oomEvents: readonly OomEvent[];
  /** Current limits and the files they live in on this host (from session.ready, then from
   *  each limits.updated). */
  limits: { limits: Limits; cgroupFiles: CgroupFileWrite[] } | null;
  /** Progress of this lesson's lab steps, as the server checked it against kernel state. */
  progress: readonly StepProgress[];
  /** The class this sandbox belongs to, when the learner joined one (from session.ready). */
  classroom: ClassroomInfo | null;
  /** The instructor's latest message to the class, once one has come. */
  broadcast: Broadcast | null;
  /**
   * Type `text` into the learner's terminal and focus it. With `submit`, also press Enter —
   * never used for commands that destroy something; the learner presses Enter for those.
   */
  typeIntoTerminal(text: string, options?: { submit?: boolean }): void;
  /** docker update: change some limits of the running sandbox. */
  updateLimits(change: Partial<Limits>): Promise<LimitsUpdateResult>;
}

export const LabContext = createContext<LabApi | null>(null);

/** The page's lab. Throws outside a LabProvider: every lab component lives inside one. */
export function useLab(): LabApi {
  const lab = useContext(LabContext);
  if (!lab) throw new Error("useLab() needs a <LabProvider> above it");
  return lab;
}

/** The page's lab, or null where a component may also render without one (reference figures). */
export function useOptionalLab(): LabApi | null {
  return useContext(LabContext);
}
