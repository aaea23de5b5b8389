// Lesson and course metadata: the schemas every lesson file and the course file must match,
// and the parser for a lesson's frontmatter block.
//
// Shared by the pages, the server and tests: no DOM, no Node. Reading the course and its files
// is common/course-loader.ts, given a file reader by components/lesson/load-lesson.ts (pages)
// and server/lessons/lesson-steps.ts (the lab server).
//
// A bad lesson is a broken invariant of the content, found at build time, so parsing throws a
// LessonSourceError whose message names the file and the field; nothing here returns a
// half-valid lesson.

import { z } from "zod";

import { LabSteps } from "./lab-steps";

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

// ---------------------------------------------------------------------------------------------
// Code blocks a lesson offers to run in the learner's terminal.
//
// A fenced block's info string carries, after its language, the words that say what the page may
// do with it, e.g. ```` ```sh run ```` or ```` ```sh run destructive exit=137 ````:
//
//   run          the page offers a Run button that types the block into the terminal and presses
//                Enter, one line at a time (comment lines are skipped);
//   destructive  Run only types the command: the learner reads it and presses Enter themselves.
//                Such a block is one command line, so that no newline can submit it;
//   cgroup=v1    Run is offered only on a host of that cgroup version (the other gets its own
//   cgroup=v2    block); the lesson test runs only the blocks for the host it runs on;
//   exit=N       the block's last command exits with status N, as the lesson says it will
//                (137 for a process the OOM killer ends);
//   fails        the block's last command fails (any status but 0), as the lesson says it will;
//   host         the block runs on a Docker host, not in the lab (no Run; labelled as such).
//
// Without `exit=` or `fails`, every command of a runnable block must succeed: the lesson test
// (lessons/lesson-commands.test.ts) runs each one in a real sandbox and holds it to that.

export type CgroupVersionName = "v1" | "v2";

export interface CodeMeta {
  run: boolean;
  destructive: boolean;
  /** A command for a host with Docker, shown for comparison; the lab cannot run it. */
  host: boolean;
  cgroup: CgroupVersionName | null;
  /** What the block's last command does: succeed, exit with this status, or fail somehow. */
  expect: { kind: "success" } | { kind: "exit"; status: number } | { kind: "fails" };
}

export const NO_CODE_META: CodeMeta = { run: false, destructive: false, host: false, cgroup: null, expect: { kind: "success" } };

/** Why a code block's info string or text is not acceptable; the caller adds file and line. */
export class CodeMetaError extends Error {
  override name = "CodeMetaError";
}

/** Parses the words after a code block's language. Throws CodeMetaError naming the bad word. */
export function parseCodeMeta(meta: string | null | undefined): CodeMeta {
  const result: CodeMeta = { ...NO_CODE_META };
  const seen = new Set<string>();
  for (const word of (meta ?? "").trim().split(/\s+/).filter(Boolean)) {
    const [name = "", value] = word.split("=", 2) as [string, string | undefined];
    if (seen.has(name)) throw new CodeMetaError(`"${name}" is given twice`);
    seen.add(name);
    if (name === "run" && value === undefined) result.run = true;
    else if (name === "destructive" && value === undefined) result.destructive = true;
    else if (name === "host" && value === undefined) result.host = true;
    else if (name === "fails" && value === undefined) result.expect = { kind: "fails" };
    else if (name === "cgroup" && (value === "v1" || value === "v2")) result.cgroup = value;
    else if (name === "exit" && value !== undefined && /^\d{1,3}$/.test(value) && Number(value) <= 255) {
      result.expect = { kind: "exit", status: Number(value) };
    } else {
      throw new CodeMetaError(`unknown word "${word}" (known: run, destructive, cgroup=v1|v2, exit=N, fails, host)`);
    }
  }
  if (seen.has("exit") && seen.has("fails")) throw new CodeMetaError(`"exit=" and "fails" cannot be given together`);
  if (result.host && result.run) throw new CodeMetaError(`"host" marks a block the lab cannot run: it cannot have "run"`);
  if (!result.run && (result.destructive || result.cgroup !== null || seen.has("exit") || seen.has("fails"))) {
    throw new CodeMetaError(`"destructive", "cgroup=", "exit=" and "fails" describe a runnable block: add "run"`);
  }
  return result;
}

/**
 * The commands of a code block as a shell reads them: one per line, a line that ends in a
 * backslash joined with the next, blank lines and `#` comment lines left out.
 */
export function commandLines(code: string): string[] {
  const commands: string[] = [];
  let pending = "";
  for (const line of code.replace(/\n$/, "").split("\n")) {
    if (pending === "" && (line.trim() === "" || line.trimStart().startsWith("#"))) continue;
    if (line.endsWith("\\")) {
      pending += `${line}\n`;
      continue;
    }
    commands.push(pending + line);
    pending = "";
  }
  if (pending !== "") commands.push(pending.replace(/\\\n$/, ""));
  return commands;
}

/** Checks a runnable block's text against its meta. Throws CodeMetaError. */
export function checkRunnableCode(code: string, meta: CodeMeta): void {
  if (!meta.run) return;
  const commands = commandLines(code);
  if (commands.length === 0) throw new CodeMetaError("a runnable block needs at least one command");
  if (meta.destructive && (commands.length !== 1 || commands[0]?.includes("\n"))) {
    throw new CodeMetaError("a destructive block must be a single one-line command, so that Run never presses Enter for it");
  }
}

/**
 * Validates a lesson's `export const labSteps` (a lesson without one has no steps), naming the
 * file and the step at fault.
 */
export function parseLabSteps(value: unknown, file: string): LabSteps {
  if (value === undefined) return [];
  const result = LabSteps.safeParse(value);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const where = issue && issue.path.length > 0 ? `labSteps.${issue.path.map(String).join(".")}` : "labSteps";
  throw new LessonSourceError(file, where, result.error.issues.map((i) => i.message).join("; "));
}
