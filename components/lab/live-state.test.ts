import { describe, expect, it } from "vitest";

import { EMPTY_LIVE_STATE, HISTORY_WINDOW_MS, type LiveState, applyLiveDelta } from "./live-state";
import { MiB, T0, process, snapshot } from "./test-fixtures";

function apply(state: LiveState, ...deltas: Parameters<typeof applyLiveDelta>[1][]): LiveState {
  let current = state;
  for (const delta of deltas) {
    const update = applyLiveDelta(current, delta);
    if (!update.ok) throw new Error(update.reason);
    current = update.state;
  }
  return current;
}

describe("the page's live kernel state", () => {
  it("starts from a full snapshot and applies changes to it", () => {
    const state = apply(
      EMPTY_LIVE_STATE,
      { kind: "full", snapshot: snapshot(T0) },
      {
        kind: "change",
        takenAtMs: T0 + 100,
        processes: { added: [process(48300, [48300, 7], "sh", { ...snapshot(T0).hostNamespaces, net: 4026533000 })], changed: [], removed: [] },
      },
    );
    expect(state.live?.takenAtMs).toBe(T0 + 100);
    expect(state.live?.processes.map((p) => p.hostPid)).toEqual([48213, 48300]);
    expect(state.live?.processes[1]?.namespaces.net).toBe(4026533000);
  });

  it("refuses a change that has no snapshot to change, so the page can ask for a full one", () => {
    const update = applyLiveDelta(EMPTY_LIVE_STATE, { kind: "change", takenAtMs: T0 });
    expect(update.ok).toBe(false);
  });

  it("samples memory and pids from each snapshot, and CPU as CPUs used since the previous one", () => {
    const state = apply(
      EMPTY_LIVE_STATE,
      { kind: "full", snapshot: snapshot(T0, { usageNs: 1_000_000_000 }) },
      // 250 ms of CPU time in 500 ms of wall time: half a CPU.
      { kind: "change", takenAtMs: T0 + 500, cgroup: { cpu: { usageNs: { value: 1_250_000_000 } }, memory: { usageBytes: { value: 40 * MiB } } } },
    );
    expect(state.history).toHaveLength(2);
    expect(state.history[0]?.cpuUsage).toBeNull();
    expect(state.history[1]).toMatchObject({ atMs: T0 + 500, memoryUsageBytes: 40 * MiB, memoryLimitBytes: 256 * MiB, pidsCurrent: 1, pidsLimit: 100, cpuQuota: 0.5 });
    expect(state.history[1]?.cpuUsage).toBeCloseTo(0.5, 10);
  });

  it("counts throttled periods per sample, not since the cgroup was made", () => {
    const state = apply(
      EMPTY_LIVE_STATE,
      { kind: "full", snapshot: snapshot(T0, { throttledPeriods: 40 }) },
      { kind: "change", takenAtMs: T0 + 100, cgroup: { cpu: { throttledPeriods: { value: 43 } } } },
    );
    expect(state.history.map((s) => s.throttledPeriods)).toEqual([null, 3]);
  });

  it("records an OOM kill when the count goes up, but not the kills before the page watched", () => {
    const state = apply(
      EMPTY_LIVE_STATE,
      { kind: "full", snapshot: snapshot(T0, { oomKillCount: 2 }) },
      { kind: "change", takenAtMs: T0 + 300, cgroup: { memory: { usageBytes: { value: 60 * MiB } } } },
      { kind: "change", takenAtMs: T0 + 400, cgroup: { memory: { oomKillCount: { value: 3 } } } },
    );
    expect(state.oomEvents).toEqual([{ atMs: T0 + 400, oomKillCount: 3 }]);
  });

  it("has no swap series on a host without swap accounting", () => {
    const state = apply(EMPTY_LIVE_STATE, { kind: "full", snapshot: snapshot(T0, { swapUsageBytes: null }) });
    expect(state.history[0]?.swapUsageBytes).toBeNull();
  });

  it("keeps five minutes of samples", () => {
    const state = apply(
      EMPTY_LIVE_STATE,
      { kind: "full", snapshot: snapshot(T0) },
      { kind: "change", takenAtMs: T0 + 60_000, cgroup: { pids: { current: { value: 2 } } } },
      { kind: "change", takenAtMs: T0 + HISTORY_WINDOW_MS + 30_000, cgroup: { pids: { current: { value: 3 } } } },
    );
    expect(state.history.map((s) => s.atMs)).toEqual([T0 + 60_000, T0 + HISTORY_WINDOW_MS + 30_000]);
  });

  it("starts the charts again when a stream restarts from an older snapshot", () => {
    const state = apply(
      EMPTY_LIVE_STATE,
      { kind: "full", snapshot: snapshot(T0 + 1000) },
      { kind: "full", snapshot: snapshot(T0 + 500, { oomKillCount: 4 }) },
    );
    expect(state.history.map((s) => s.atMs)).toEqual([T0 + 500]);
    expect(state.oomEvents).toEqual([]);
  });
});
