// The lab steps of a lesson: what the learner is asked to do, and the check the server makes
// against kernel state — never against what was typed — to tick it. A lesson declares its
// steps in its MDX file as `export const labSteps = [...]`; the page shows them, and the server
// evaluates their checks on each probe of the learner's sandbox.

import { z } from "zod";

import { NAMESPACE_TYPES } from "./lab-state";

export const LabCheck = z.discriminatedUnion("kind", [
  /** Some process of the learner's lives in a namespace of this type other than their shell's. */
  z.strictObject({ kind: z.literal("namespace-differs-from-shell"), namespace: z.enum(NAMESPACE_TYPES) }),
  /** The session's cgroup, or a child cgroup the learner made, has exactly this memory limit. */
  z.strictObject({ kind: z.literal("memory-limit"), bytes: z.number().int().positive() }),
  /** The OOM killer has killed at least one process in the learner's cgroups. */
  z.strictObject({ kind: z.literal("oom-kill") }),
  /** Some process of the learner's is in a pid namespace this many levels below their
   *  shell's (1: `unshare -p -f`, 2: an unshare inside that). */
  z.strictObject({ kind: z.literal("pid-namespace-depth"), depth: z.number().int().min(1).max(8) }),
]);
export type LabCheck = z.infer<typeof LabCheck>;

export const LabStep = z.strictObject({
  /** Stable id: progress is stored under it. */
  id: z.string().regex(/^[a-z0-9-]{1,48}$/),
  /** What to do, in one line. */
  title: z.string().min(1).max(160),
  check: LabCheck,
});
export type LabStep = z.infer<typeof LabStep>;

export const LabSteps = z
  .array(LabStep)
  .max(20)
  .refine((steps) => new Set(steps.map((s) => s.id)).size === steps.length, "step ids must be unique");
export type LabSteps = z.infer<typeof LabSteps>;
