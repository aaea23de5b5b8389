// Lesson and course metadata: the schemas every lesson file and the course file must match,
// and the parser for a lesson's frontmatter block.
//
// Shared by the pages and by tests: no DOM, no Node. Reading files from disk lives in
// components/lesson/load-lesson.ts.
//
// A bad lesson is a broken invariant of the content, found at build time, so parsing throws a
// LessonSourceError whose message names the file and the field; nothing here returns a
// half-valid lesson.

import { z } from "zod";

/** A lesson's slug: its file name and its URL segment. Same alphabet as the protocol's `lesson`. */
export const LessonSlug = z.string().regex(/^[a-z0-9-]{1,64}$/, "a slug of a-z, 0-9 and -");
export type LessonSlug = z.infer<typeof LessonSlug>;

/** The frontmatter block at the top of every lessons/<slug>.mdx. Unknown fields are errors. */
export const LessonFrontmatter = z.strictObject({
  title: z.string().min(1).max(120),
  /** Position in the course, from 1; must match the lesson's place in lessons/course.json. */
  order: z.number().int().min(1),
  /** Reading time, in minutes, shown on the course page. */
  minutes: z.number().int().min(1).max(240),
  summary: z.string().min(1).max(400),
  /** What the learner can do after the lesson; shown above the text. */
  objectives: z.array(z.string().min(1)).min(1).max(12),
});
export type LessonFrontmatter = z.infer<typeof LessonFrontmatter>;

/** lessons/course.json: the course and its lessons in reading order. */
export const Course = z.strictObject({
  slug: LessonSlug,
  title: z.string().min(1).max(120),
  summary: z.string().min(1).max(400),
  lessons: z.array(LessonSlug).min(1),
});
export type Course = z.infer<typeof Course>;

/** A lesson as the course page lists it. */
export type LessonSummary = LessonFrontmatter & { slug: LessonSlug };

export class LessonSourceError extends Error {
  override name = "LessonSourceError";
  constructor(
    readonly file: string,
    /** The frontmatter or course field at fault, when there is one. */
    readonly field: string | undefined,
    detail: string,
  ) {
    super(field === undefined ? `${file}: ${detail}` : `${file}: field "${field}": ${detail}`);
  }
}

type FrontmatterValue = string | number | string[];

const FENCE = "---";

/**
 * Splits a lesson file into its frontmatter fields and its MDX body.
 *
 * The frontmatter is a small YAML subset, enough for lesson metadata and nothing that needs a
 * YAML library: `key: value` lines, where a value that is all digits is a number and quotes
 * around a string are dropped, and `key:` followed by `  - item` lines for a list. `#` starts a
 * comment line. Anything else is an error naming the line.
 *
 * The body keeps one empty line for every frontmatter line, so that MDX's own error messages
 * point at the right line of the file.
 */
export function splitFrontmatter(source: string, file: string): { fields: Record<string, FrontmatterValue>; body: string } {
  const lines = source.replace(/^\uFEFF/, "").split(/\r?\n/);
  if (lines[0]?.trim() !== FENCE) {
    throw new LessonSourceError(file, undefined, `must start with a "${FENCE}" line opening the frontmatter`);
  }
  const end = lines.findIndex((line, index) => index > 0 && line.trim() === FENCE);
  if (end === -1) {
    throw new LessonSourceError(file, undefined, `the frontmatter has no closing "${FENCE}" line`);
  }

  const fields: Record<string, FrontmatterValue> = {};
  let openList: string | undefined;
  for (let index = 1; index < end; index++) {
    const line = lines[index] ?? "";
    const lineNumber = index + 1;
    if (line.trim() === "" || line.trimStart().startsWith("#")) continue;

    const item = /^\s+-\s+(.*)$/.exec(line);
    if (item) {
      const list = openList === undefined ? undefined : fields[openList];
      if (openList === undefined || !Array.isArray(list)) {
        throw new LessonSourceError(file, undefined, `line ${lineNumber}: a list item outside a list`);
      }
      list.push(unquote(item[1] ?? ""));
      continue;
    }

    const entry = /^([A-Za-z][\w-]*):(?:\s+(.*))?$/.exec(line);
    if (!entry) {
      throw new LessonSourceError(file, undefined, `line ${lineNumber}: expected "name: value" or "  - item"`);
    }
    const name = entry[1] ?? "";
    if (Object.hasOwn(fields, name)) {
      throw new LessonSourceError(file, name, `given twice (line ${lineNumber})`);
    }
    const raw = (entry[2] ?? "").trim();
    if (raw === "") {
      fields[name] = [];
      openList = name;
    } else {
      fields[name] = /^\d+$/.test(raw) ? Number(raw) : unquote(raw);
      openList = undefined;
    }
  }

  const body = "\n".repeat(end + 1) + lines.slice(end + 1).join("\n");
  return { fields, body };
}

/** Parses a whole lesson file: validated frontmatter and the MDX body. */
export function parseLessonSource(source: string, file: string): { frontmatter: LessonFrontmatter; body: string } {
  const { fields, body } = splitFrontmatter(source, file);
  return { frontmatter: validate(LessonFrontmatter, fields, file), body };
}

/** Validates lessons/course.json once it has been parsed as JSON. */
export function parseCourse(value: unknown, file: string): Course {
  return validate(Course, value, file);
}

function validate<T>(schema: z.ZodType<T>, value: unknown, file: string): T {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  // Every problem is listed, so an author fixes a file in one pass; the first names the error's field.
  const problems = result.error.issues.flatMap((issue): Array<{ field: string | undefined; text: string }> =>
    issue.code === "unrecognized_keys"
      ? issue.keys.map((key) => ({ field: key, text: "is not a known field" }))
      : [{ field: issue.path.length > 0 ? issue.path.map(String).join(".") : undefined, text: issue.message }],
  );
  const [first, ...rest] = problems;
  if (!first) throw new LessonSourceError(file, undefined, "invalid");
  const more = rest.map((problem) => (problem.field === undefined ? problem.text : `field "${problem.field}": ${problem.text}`));
  throw new LessonSourceError(file, first.field, [first.text, ...more].join("; "));
}

function unquote(value: string): string {
  const trimmed = value.trim();
  const quoted = /^(["'])(.*)\1$/.exec(trimmed);
  return quoted ? (quoted[2] ?? "") : trimmed;
}
