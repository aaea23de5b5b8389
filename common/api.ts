// The JSON bodies of nslab's HTTP API (what is not a WebSocket frame), one schema each, parsed on
// both sides: the server validates a body before it sends it, the page parses what it gets.

import { z } from "zod";

import { StepProgress } from "./protocol";

/** GET: the learner (by the nslab_learner cookie) and their stored progress, per lesson. */
export const PROGRESS_PATH = "/api/progress";

/** One lesson's lab steps in the lesson's order, each done or not, and how many there are. */
export const LessonProgress = z.object({ steps: z.array(StepProgress), total: z.number().int().nonnegative() });
export type LessonProgress = z.infer<typeof LessonProgress>;

/** The body of GET /api/progress: every lesson of the course, by slug. */
export const CourseProgress = z.object({ lessons: z.record(z.string(), LessonProgress) });
export type CourseProgress = z.infer<typeof CourseProgress>;
