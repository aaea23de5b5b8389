// The lesson engine's rules, on small made-up lessons: code blocks are checked at build time
// with the file and line in the message, lab steps are validated with the file named, and the
// page-side helpers decide Run and ticks from the lab's state alone.

import { describe, expect, it } from "vitest";

import { LessonSourceError, parseCodeMeta } from "../../common/lesson";
import { runAvailability } from "./code-block";
import { collectCodeBlocks } from "./code-blocks";
import { doneStepIds } from "./lab-step-list";
import { LessonBody } from "./lesson-body";

const FILE = "lessons/example.mdx";

describe("code blocks of a lesson", () => {
  it("lists every block with its language, meta and line", async () => {
    const body = "\n\nSome text.\n\n```sh run\necho $$\n```\n\n```text\n1\n```\n\n```sh run destructive exit=137\ntail /dev/zero\n```\n";
    const blocks = await collectCodeBlocks(body, FILE);
    expect(blocks.map((b) => [b.line, b.language, b.code, b.meta.run, b.meta.destructive])).toEqual([
      [5, "sh", "echo $$", true, false],
      [9, "text", "1", false, false],
      [13, "sh", "tail /dev/zero", true, true],
    ]);
    expect(blocks[2]?.meta.expect).toEqual({ kind: "exit", status: 137 });
  });

  it("fails on a bad info string, naming the file and the line", async () => {
    const error = await collectCodeBlocks("\n\n\n```sh rn\nls\n```\n", FILE).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(LessonSourceError);
    expect((error as Error).message).toBe(`${FILE}: code block at line 4: unknown word "rn" (known: run, destructive, cgroup=v1|v2, exit=N, fails, host)`);
  });

  it("fails on a destructive block of several commands", async () => {
    const error = await collectCodeBlocks("```sh run destructive\nmkdir x\nrm -r x\n```\n", FILE).catch((e: unknown) => e);
    expect((error as Error).message).toMatch(/^lessons\/example\.mdx: code block at line 1: a destructive block must be a single one-line command/);
  });
});

describe("the lesson body at build time", () => {
  it("fails on invalid lab steps, naming the file and the field", async () => {
    const body = 'export const labSteps = [{ id: "Bad Id", title: "T", check: { kind: "oom-kill" } }]\n\nText.\n';
    const error = await LessonBody({ body, file: FILE }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(LessonSourceError);
    expect((error as Error).message).toMatch(/^lessons\/example\.mdx: field "labSteps\.0\.id": /);
  });

  it("fails on a bad code block before rendering anything", async () => {
    const error = await LessonBody({ body: "```sh run cgroup=v9\nls\n```\n", file: FILE }).catch((e: unknown) => e);
    expect((error as Error).message).toMatch(/^lessons\/example\.mdx: code block at line 1: unknown word "cgroup=v9"/);
  });

  it("fails on MDX that does not compile, naming the file", async () => {
    const error = await LessonBody({ body: "<Unclosed>\n", file: FILE }).catch((e: unknown) => e);
    expect((error as Error).message).toMatch(/^lessons\/example\.mdx: the lesson's MDX does not compile: /);
  });
});

describe("the Run button", () => {
  const run = parseCodeMeta("run");
  const v1Only = parseCodeMeta("run cgroup=v1");

  it("is not offered without a lab, or for a block that is not runnable", () => {
    expect(runAvailability(run, null)).toEqual({ offer: false, enabled: false, reason: null });
    expect(runAvailability(parseCodeMeta(""), { phase: "ready", cgroupVersion: 1 }).offer).toBe(false);
  });

  it("waits for a connected sandbox", () => {
    expect(runAvailability(run, { phase: "connecting", cgroupVersion: null })).toMatchObject({ offer: true, enabled: false });
    expect(runAvailability(run, { phase: "ready", cgroupVersion: 2 })).toEqual({ offer: true, enabled: true, reason: null });
  });

  it("is offered only for the host's cgroup version", () => {
    expect(runAvailability(v1Only, { phase: "ready", cgroupVersion: 1 }).enabled).toBe(true);
    expect(runAvailability(v1Only, { phase: "ready", cgroupVersion: 2 })).toMatchObject({
      offer: false,
      reason: "This host runs cgroup v2: use the block for v2.",
    });
  });
});

describe("lab step ticks", () => {
  it("combines stored progress with the live session's", () => {
    const stored = [
      { id: "a", done: true, completedAtMs: 1 },
      { id: "b", done: false, completedAtMs: null },
    ];
    const live = [
      { id: "b", done: true, completedAtMs: 2 },
      { id: "c", done: false, completedAtMs: null },
    ];
    expect([...doneStepIds(stored, live)].sort()).toEqual(["a", "b"]);
    expect([...doneStepIds([], [])]).toEqual([]);
  });
});
