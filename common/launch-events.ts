// What the sandbox launcher (native/launcher.c) reports while it builds a sandbox: one JSON line
// per step on a pipe the server hands it (`--status-fd`), parent and child writing to the same
// pipe. The step names are a closed set: `native/launch-events.test.ts` holds every `report()`
// call of the launcher to exactly this list, and the start-up diagram names each of them.
//
// Shared by the server (which parses every line) and the page (which draws the steps that
// session.ready carries): no DOM, no Node.

// zod's functional API (zod/mini): the server's and `nslab run`'s parser of every report line,
// and `nslab run` should not load the chained API (≈ 100 ms) to start a sandbox.
import * as z from "zod/mini";

/** The steps in the order a successful start reports them, then the two failure reports. */
export const LAUNCH_STEP_NAMES = [
  "start",
  "layer",
  "clone",
  "uid-map",
  "overlay",
  "cgroup",
  "identity",
  "mounts",
  "uts-net",
  "pivot-root",
  "exec",
  /** The command could not be exec'd (not found, not executable); `detail` names it. */
  "exec-failed",
  /** The launcher gave up; `detail` says why, naming the call and its object. */
  "error",
] as const;

export const LaunchStepName = z.enum(LAUNCH_STEP_NAMES);
export type LaunchStepName = z.infer<typeof LaunchStepName>;

/** One line of the launcher's report, as it writes it. */
export const LaunchEvent = z.object({
  step: LaunchStepName,
  /** The reporting process as the host sees it (parent or child; the child reports from inside
   *  its pid namespace, so its own getpid() is 1 there and the host pid comes from `clone`). */
  pid: z.int(),
  /** CLOCK_MONOTONIC in nanoseconds. */
  tNs: z.number().check(z.nonnegative()),
  /** `start`: the launcher's own start time in ns; `clone`: the child's host pid; `exec`: the
   *  command; `error`, `exec-failed`: the reason. */
  detail: z.optional(z.string().check(z.maxLength(512))),
});
export type LaunchEvent = z.infer<typeof LaunchEvent>;

/** The most report lines one start may produce; more is a broken launcher, not a slow one. */
export const MAX_LAUNCH_EVENTS = 64;

/** One step of the sandbox's start-up as the page draws it: milliseconds since `start`. */
export const LaunchStep = z.object({
  step: LaunchStepName,
  atMs: z.number().check(z.minimum(0)),
});
export type LaunchStep = z.infer<typeof LaunchStep>;

/** The page's timeline from the launcher's events: each step's time since the launcher began. */
export function launchSteps(events: readonly LaunchEvent[]): LaunchStep[] {
  const start = events.find((e) => e.step === "start");
  const origin = start ? Number(start.detail ?? start.tNs) : (events[0]?.tNs ?? 0);
  return events.map((e) => ({ step: e.step, atMs: Math.max(0, (e.tNs - origin) / 1e6) }));
}
