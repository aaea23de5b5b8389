// What the page keeps of the kernel-state stream: the latest snapshot, a few minutes of samples
// for the charts, and the OOM kills seen. Pure functions of the deltas, so the provider stays a
// thin shell around them and every rule here is tested without a socket or a clock.

import { type ProbeSnapshot, type SnapshotDelta, applySnapshotDelta } from "../../common/lab-state";
import type { OomEvent, ResourceSample } from "./lab-context";

/** How much history the charts can draw; older samples are dropped. */
export const HISTORY_WINDOW_MS = 5 * 60 * 1000;

export interface LiveState {
  live: ProbeSnapshot | null;
  history: readonly ResourceSample[];
  oomEvents: readonly OomEvent[];
}

export const EMPTY_LIVE_STATE: LiveState = { live: null, history: [], oomEvents: [] };

export type LiveUpdate =
  | { ok: true; state: LiveState }
  /** A change arrived without the snapshot it changes: the page must ask for a full one. */
  | { ok: false; reason: string };

/** The difference of a counter between two snapshots; null when either side has no reading or
 *  the counter went backwards (a new cgroup, or a reset). */
function counterDelta(previous: number | null | undefined, current: number | null): number | null {
  if (previous === null || previous === undefined || current === null) return null;
  const delta = current - previous;
  return delta >= 0 ? delta : null;
}

/** One chart sample of `snapshot`; CPU and throttling are rates since `previous`. */
export function sampleOf(snapshot: ProbeSnapshot, previous: ProbeSnapshot | null): ResourceSample {
  const { memory, pids, cpu } = snapshot.cgroup;
  const elapsedMs = previous ? snapshot.takenAtMs - previous.takenAtMs : 0;
  const usedNs = counterDelta(previous?.cgroup.cpu.usageNs.value, cpu.usageNs.value);
  return {
    atMs: snapshot.takenAtMs,
    memoryUsageBytes: memory.usageBytes.value,
    memoryLimitBytes: memory.limitBytes.value,
    // A missing file means this host keeps no swap accounting: no swap series at all.
    swapUsageBytes: memory.swapUsageBytes.missing ? null : memory.swapUsageBytes.value,
    pidsCurrent: pids.current.value,
    pidsLimit: pids.limit.value,
    // usageNs counts CPU time in nanoseconds; per nanosecond of wall time that is CPUs in use.
    cpuUsage: usedNs !== null && elapsedMs > 0 ? usedNs / (elapsedMs * 1e6) : null,
    cpuQuota: cpu.quotaUs.value !== null && cpu.periodUs.value ? cpu.quotaUs.value / cpu.periodUs.value : null,
    throttledPeriods: counterDelta(previous?.cgroup.cpu.throttledPeriods.value, cpu.throttledPeriods.value),
  };
}

/** The OOM kills between two snapshots, if the counter went up. The first snapshot of a stream
 *  is a baseline: kills before the page watched are not events it saw. */
function oomEventOf(snapshot: ProbeSnapshot, previous: ProbeSnapshot | null): OomEvent | null {
  const before = previous?.cgroup.memory.oomKillCount.value;
  const after = snapshot.cgroup.memory.oomKillCount.value;
  if (before === null || before === undefined || after === null || after <= before) return null;
  return { atMs: snapshot.takenAtMs, oomKillCount: after };
}

/** Keeps what is younger than `windowMs` before `latestMs`. */
function withinWindow<T extends { atMs: number }>(items: readonly T[], latestMs: number, windowMs: number): T[] {
  const oldest = latestMs - windowMs;
  const first = items.findIndex((item) => item.atMs >= oldest);
  return first === -1 ? [] : items.slice(first);
}

/** The state after one state.delta. Does not modify `state`. */
export function applyLiveDelta(state: LiveState, delta: SnapshotDelta, windowMs = HISTORY_WINDOW_MS): LiveUpdate {
  let snapshot: ProbeSnapshot;
  try {
    snapshot = applySnapshotDelta(state.live, delta);
  } catch (error) {
    return { ok: false, reason: error instanceof Error ? error.message : String(error) };
  }
  const previous = state.live;
  // A sample older than the last one (a stream restarted from an earlier snapshot) would fold
  // the time axis back on itself; the chart starts again from it instead.
  const lastAtMs = state.history.at(-1)?.atMs ?? Number.NEGATIVE_INFINITY;
  const continues = snapshot.takenAtMs > lastAtMs;
  const sample = sampleOf(snapshot, continues ? previous : null);
  const history = continues ? [...withinWindow(state.history, snapshot.takenAtMs, windowMs), sample] : [sample];
  const oomEvent = continues ? oomEventOf(snapshot, previous) : null;
  const oomEvents = withinWindow(oomEvent ? [...state.oomEvents, oomEvent] : state.oomEvents, snapshot.takenAtMs, windowMs);
  return { ok: true, state: { live: snapshot, history, oomEvents } };
}
