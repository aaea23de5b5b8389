// A session's lab steps: which of the lesson's steps the learner has done, decided from kernel
// readings by the pure checks of server/lessons/checks.ts. A step is done once, the first time
// its check holds, and kept in the store under the learner — written behind, never on the
// reading's own path.
import type { ProbeSnapshot } from "../../common/lab-state";
import type { LabStep } from "../../common/lab-steps";
import type { ServerMessage, StepProgress } from "../../common/protocol";
import { type CheckContext, checkHolds } from "../lessons/checks";
import type { Logger } from "../log";
import type { Store } from "../store/store";

export class StepTracker {
  private readonly done = new Map<string, number>();

  constructor(
    readonly lesson: string,
    private readonly steps: readonly LabStep[],
    private readonly learnerId: string,
    private readonly store: Store | null,
    private readonly log: Logger,
  ) {}

  /** Steps this learner did in an earlier session of the lesson count as done here too. */
  restore(completed: ReadonlyMap<string, number>): void {
    for (const step of this.steps) {
      const atMs = completed.get(step.id);
      if (atMs !== undefined && !this.done.has(step.id)) this.done.set(step.id, atMs);
    }
  }

  /** Whether any step is still to be done (the session reads the kernel for them only then). */
  get pending(): boolean {
    return this.steps.some((step) => !this.done.has(step.id));
  }

  /**
   * Tick every step whose check holds now. True when one did (the pages are then sent the new
   * progress). A check that cannot be made now (a cgroup removed mid-read) is made next time.
   */
  evaluate(snapshot: ProbeSnapshot, context: Omit<CheckContext, "snapshot">, atMs: number): boolean {
    let changed = false;
    for (const step of this.steps) {
      if (this.done.has(step.id)) continue;
      let holds = false;
      try {
        holds = checkHolds(step.check, { ...context, snapshot });
      } catch (err) {
        this.log.warn({ step: step.id, err: (err as Error).message }, "lab-step check could not be made");
      }
      if (!holds) continue;
      this.done.set(step.id, atMs);
      changed = true;
      this.log.info({ lesson: this.lesson, step: step.id }, "lab step done");
      // Not awaited: the write queues behind the reading and lands in the store's next batch.
      this.store?.progress.complete(this.learnerId, this.lesson, step.id, atMs).catch((err: unknown) => {
        this.log.error({ lesson: this.lesson, step: step.id, err }, "progress could not be stored");
      });
    }
    return changed;
  }

  /** The progress message the pages get: every step of the lesson, done or not. */
  progress(): Extract<ServerMessage, { type: "progress" }> {
    return {
      type: "progress",
      lesson: this.lesson,
      steps: this.steps.map((s): StepProgress => ({ id: s.id, done: this.done.has(s.id), completedAtMs: this.done.get(s.id) ?? null })),
    };
  }
}
