// Cards and classes for the classroom's tests: deterministic (fixed times, fixed ids), each
// valid under the contract's schemas, with only what a test cares about given.

import type { ClassDetail, LearnerCard } from "../../common/classroom";
import { MiB } from "../../common/limits";

/** A moment to measure from: 2025-01-01T09:00:00Z. */
export const T0 = Date.UTC(2025, 0, 1, 9, 0, 0);
export const MINUTE = 60_000;

let nextId = 1;

/** A member id from a number: "0000000000000001". */
export function memberId(n: number): string {
  return n.toString(16).padStart(16, "0");
}

export function makeCard(overrides: Partial<LearnerCard> = {}): LearnerCard {
  const id = overrides.memberId ?? memberId(nextId++);
  return {
    memberId: id,
    name: `Learner ${id.slice(-2)}`,
    joinedAtMs: T0,
    status: "connected",
    steps: [],
    lastInputAtMs: null,
    sandbox: {
      hostname: `lab-${id.slice(-6)}`,
      startedAtMs: T0,
      limits: { memoryBytes: 256 * MiB, memorySwapBytes: 256 * MiB, cpus: 0.5, pids: 100 },
      memoryBytes: 10 * MiB,
      pids: 3,
    },
    oomKills: 0,
    screen: ["root@lab:/# "],
    endReason: null,
    ...overrides,
  };
}

export function makeDetail(learners: LearnerCard[] = []): ClassDetail {
  return {
    class: {
      id: "00000000000000aa",
      code: "K7M2QX",
      name: "Tuesday group",
      lesson: "containers-vs-vms",
      state: "open",
      createdAtMs: T0,
      capacity: 40,
      learners: learners.length,
      live: learners.filter((card) => card.sandbox !== null).length,
    },
    settings: {
      name: "Tuesday group",
      lesson: "containers-vs-vms",
      limits: { memoryBytes: 256 * MiB, memorySwapBytes: 256 * MiB, cpus: 0.5, pids: 100 },
      capacity: 40,
      reconnectGraceS: 300,
      sessionLifetimeS: 10_800,
      idleTimeoutS: 1800,
    },
    steps: [
      { id: "see-namespaces", title: "Find your shell's namespaces" },
      { id: "new-pid-ns", title: "Start a shell in a new pid namespace" },
      { id: "oom", title: "Meet the OOM killer" },
    ],
    learners,
    lastBroadcast: null,
  };
}
