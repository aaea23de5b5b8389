// Lessons cannot rot: every command a lesson offers to Run is run here, in a real sandbox made
// the way a learner's is, and must do what the lesson says — succeed, or fail the way the
// lesson says it will (`exit=N`, `fails` in the block's info string; see common/lesson.ts).
//
// The commands of one lesson run in ONE sandbox, in the order of the page, fed line by line to
// a shell on its standard input — as if the learner clicked every Run button from top to bottom.
// That keeps what later commands rely on (a `sleep` left in the background, `$!`, a cgroup made
// earlier) exactly as the lesson sets it up. Blocks for the other cgroup version than this
// host's are listed as skipped, with the reason.

import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

import { afterAll, describe, expect, it } from "vitest";

import { type CgroupVersionName, commandLines, parseLessonSource } from "../common/lesson";
import { type LessonCodeBlock, collectCodeBlocks } from "../components/lesson/code-blocks";
import { hostCgroupDriver } from "../server/sandbox/cgroup";
import { PROJECT_ROOT, sandboxUnavailable } from "../server/testing/kernel";

const unavailable = sandboxUnavailable();
const NSLAB = path.join(PROJECT_ROOT, "bin/nslab.mjs");
const RUN_DIR = `/run/nslab-test-lessons-${process.pid}`;
const CGROUP_PARENT = `/nslab-test-lessons-${process.pid}`;
const env = { ...process.env, NSLAB_RUN_DIR: RUN_DIR, NSLAB_CGROUP_PARENT: CGROUP_PARENT, LOG_LEVEL: "warn" };

/** A human takes a moment between a command that starts something in the background and the
 *  next one; so does the test, or the next command could look before the process exists. */
const AFTER_BACKGROUND_SECONDS = 0.5;

interface RunnableCommand {
  index: number;
  block: LessonCodeBlock;
  command: string;
  /** The block's last command carries the block's expectation; the others must succeed. */
  expect: LessonCodeBlock["meta"]["expect"];
}

interface CommandResult {
  output: string;
  status: number | null;
}

function nslab(args: string[], input = "") {
  return spawnSync(process.execPath, [NSLAB, ...args], { env, input, encoding: "utf8", timeout: 120_000 });
}

async function lessonBlocks(slug: string): Promise<LessonCodeBlock[]> {
  const file = `lessons/${slug}.mdx`;
  const { body } = parseLessonSource(fs.readFileSync(path.join(PROJECT_ROOT, file), "utf8"), file);
  return collectCodeBlocks(body, file);
}

function runnableCommands(blocks: LessonCodeBlock[]): RunnableCommand[] {
  const commands: RunnableCommand[] = [];
  for (const block of blocks) {
    const lines = commandLines(block.code);
    lines.forEach((command, i) => {
      commands.push({ index: commands.length, block, command, expect: i === lines.length - 1 ? block.meta.expect : { kind: "success" } });
    });
  }
  return commands;
}

/**
 * One shell script for the whole session: each command between markers, its status recorded and
 * restored with `(exit $s)` after each marker, so that a lesson's own `echo $?` still sees the
 * status of the lesson's command before it.
 */
function sessionScript(commands: RunnableCommand[]): string {
  const lines = ["exec 2>&1"];
  for (const { index, command } of commands) {
    lines.push(`printf '\\n@@begin ${index}\\n'; (exit \${__lesson_status:-0})`, command);
    const pause = /&\s*$/.test(command) ? `sleep ${AFTER_BACKGROUND_SECONDS}; ` : "";
    lines.push(`__lesson_status=$?; ${pause}printf '\\n@@end ${index} %d\\n' "$__lesson_status"; (exit $__lesson_status)`);
  }
  return `${lines.join("\n")}\n`;
}

function parseTranscript(stdout: string): Map<number, CommandResult> {
  const results = new Map<number, CommandResult>();
  const pattern = /@@begin (\d+)\n([\s\S]*?)\n?@@end \1 (\d+)\n/g;
  for (const match of stdout.matchAll(pattern)) {
    results.set(Number(match[1]), { output: (match[2] ?? "").replace(/^\n/, ""), status: Number(match[3]) });
  }
  return results;
}

function describeExpect(expect: RunnableCommand["expect"]): string {
  return expect.kind === "success" ? "succeeds" : expect.kind === "fails" ? "fails, as the lesson says" : `exits ${expect.status}, as the lesson says`;
}

const lessonSlug = "containers-vs-vms";

describe.skipIf(unavailable !== null)(`lesson commands of ${lessonSlug}${unavailable ? ` (skipped: ${unavailable})` : ""}`, async () => {
  const blocks = await lessonBlocks(lessonSlug);
  const runnable = blocks.filter((block) => block.meta.run);

  // The cgroup version a sandbox sees on this host, asked of a sandbox.
  const fsType = unavailable === null ? nslab(["run", "--", "stat", "-fc", "%T", "/sys/fs/cgroup/"]).stdout.trim() : "";
  const version: CgroupVersionName = fsType === "cgroup2fs" ? "v2" : "v1";
  const forThisHost = runnable.filter((block) => block.meta.cgroup === null || block.meta.cgroup === version);
  const commands = runnableCommands(forThisHost);

  let results = new Map<number, CommandResult>();
  let transcript = "";
  const session = () => {
    if (transcript === "") {
      const run = nslab(["run", "--", "bash"], sessionScript(commands));
      transcript = `${run.stdout}${run.stderr}`;
      results = parseTranscript(run.stdout);
    }
    return results;
  };

  afterAll(() => {
    const found = hostCgroupDriver(CGROUP_PARENT);
    if ("driver" in found) for (const parent of Object.values(found.driver.parents)) if (fs.existsSync(parent)) fs.rmdirSync(parent);
    fs.rmSync(RUN_DIR, { recursive: true, force: true });
  });

  it("finds runnable commands, some for every cgroup version and some for this host's", () => {
    expect(fsType).toMatch(/^(tmpfs|cgroup2fs)$/);
    expect(runnable.length).toBeGreaterThan(20);
    expect(runnable.some((block) => block.meta.cgroup === "v1")).toBe(true);
    expect(runnable.some((block) => block.meta.cgroup === "v2")).toBe(true);
    // Every destructive block is a single command that Run types without pressing Enter.
    for (const block of runnable.filter((b) => b.meta.destructive)) expect(commandLines(block.code)).toHaveLength(1);
  });

  for (const command of commands) {
    it(`line ${command.block.line}: \`${command.command}\` ${describeExpect(command.expect)}`, () => {
      const result = session().get(command.index);
      if (!result) throw new Error(`no result for this command; the session's output was:\n${transcript.slice(-4000)}`);
      const context = `output:\n${result.output}`;
      if (command.expect.kind === "success") expect(result.status, context).toBe(0);
      else if (command.expect.kind === "fails") expect(result.status, context).not.toBe(0);
      else expect(result.status, context).toBe(command.expect.status);
    });
  }

  // Blocks for the other cgroup version cannot run on this host's sandboxes; what can be checked
  // here is that each names only its own version's files, so a v2 learner is never sent to a
  // v1 file or the reverse. (They run for real on a host of that version.)
  const otherVersion = runnable.filter((b) => !forThisHost.includes(b));
  const V1_ONLY = /memory\.limit_in_bytes|memory\.memsw|memory\.oom_control|cpu\.cfs_|\/sys\/fs\/cgroup\/(memory|cpu|pids)\//;
  const V2_ONLY = /memory\.max\b|memory\.swap\.max|memory\.events|cpu\.max\b|cgroup\.subtree_control/;
  for (const block of otherVersion) {
    it(`line ${block.line}: the cgroup ${block.meta.cgroup} block names only ${block.meta.cgroup} files (runs on a ${block.meta.cgroup} host)`, () => {
      const foreign = block.meta.cgroup === "v2" ? V1_ONLY : V2_ONLY;
      expect(block.code).not.toMatch(foreign);
    });
  }

  // What the lesson tells the learner they will see, checked on the same session.
  const outputOf = (text: string): string => {
    const command = commands.find((c) => c.command === text);
    if (!command) throw new Error(`the lesson no longer runs \`${text}\``);
    const result = session().get(command.index);
    if (!result) throw new Error(`no result for \`${text}\`:\n${transcript.slice(-4000)}`);
    return result.output;
  };

  it("shows the shell as pid 1, and the host's own kernel release", () => {
    expect(outputOf("echo $$").trim()).toBe("1");
    expect(outputOf("uname -r").trim()).toBe(os.release());
  });

  it("lists ten namespace links, the time namespace still the host's first", () => {
    const links = outputOf("ls -la /proc/$$/ns/").split("\n").filter((line) => line.includes(" -> "));
    expect(links.map((line) => line.replace(/^.* (\S+) -> .*$/, "$1"))).toEqual([
      "cgroup", "ipc", "mnt", "net", "pid", "pid_for_children", "time", "time_for_children", "user", "uts",
    ]);
    expect(outputOf("readlink /proc/$$/ns/time").trim()).toBe("time:[4026531834]");
  });

  it("numbers a process two pid namespaces down as 1 in the innermost", () => {
    expect(outputOf("grep NSpid /proc/$(pgrep -n sleep)/status")).toMatch(/^NSpid:\s+\d+\s+2\s+1$/m);
  });

  it("renames the sandbox", () => {
    expect(outputOf("hostname my-container")).toBe("");
    const hostnames = commands.filter((c) => c.command === "hostname").map((c) => session().get(c.index)?.output.trim());
    expect(hostnames.at(-1)).toBe("my-container");
  });

  it("shows a background process in another net namespace, and its loopback still down", () => {
    const [shellNet, sleepNet] = outputOf("readlink /proc/$$/ns/net /proc/$!/ns/net").trim().split("\n");
    expect(shellNet).toMatch(/^net:\[\d+\]$/);
    expect(sleepNet).toMatch(/^net:\[\d+\]$/);
    expect(sleepNet).not.toBe(shellNet);
    const inside = outputOf("nsenter --target $! --net ip addr");
    expect(inside).toMatch(/^1: lo: <LOOPBACK> .* state DOWN/m);
    expect(inside).not.toContain("127.0.0.1");
  });

  it("names the cgroup filesystem, and refuses to raise the limit", () => {
    expect(outputOf("stat -fc %T /sys/fs/cgroup/").split("\n")[0]).toBe(fsType);
    const raise = version === "v1" ? "echo 1G > /sys/fs/cgroup/memory/memory.limit_in_bytes" : "echo 1G > /sys/fs/cgroup/memory.max";
    expect(outputOf(raise)).toContain("Permission denied");
    expect(outputOf("dmesg")).toContain("Operation not permitted");
  });

  it("reads the sandbox's limits as the lesson states them", () => {
    const read =
      version === "v1"
        ? outputOf("cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/memory/memory.memsw.limit_in_bytes") +
          outputOf("cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us /sys/fs/cgroup/cpu/cpu.cfs_period_us") +
          outputOf("cat /sys/fs/cgroup/pids/pids.max")
        : outputOf("cat /sys/fs/cgroup/memory.max /sys/fs/cgroup/memory.swap.max") + outputOf("cat /sys/fs/cgroup/cpu.max /sys/fs/cgroup/pids.max");
    expect(read.trim().split("\n")).toEqual(
      version === "v1" ? ["268435456", "268435456", "50000", "100000", "100"] : ["268435456", "0", "50000 100000", "100"],
    );
  });

  it("kills the hog at 64 MiB with status 137, counts the kill, and the shell lives on", () => {
    expect(outputOf("echo $?").trim()).toBe("137");
    if (version === "v1") {
      expect(outputOf("cat /sys/fs/cgroup/memory/hog/memory.limit_in_bytes").trim()).toBe("67108864");
      const counted = outputOf("grep '^oom_kill ' /sys/fs/cgroup/memory/hog/memory.oom_control");
      expect(counted.trim()).toBe("oom_kill 1");
    } else {
      expect(outputOf("cat /sys/fs/cgroup/hog/memory.max").trim()).toBe("67108864");
      expect(outputOf("grep oom_kill /sys/fs/cgroup/hog/memory.events")).toMatch(/^oom_kill 1$/m);
    }
    // Commands after the kill ran in the same shell: it survived.
    expect(outputOf("grep -E 'Seccomp|NoNewPrivs' /proc/self/status")).toMatch(/^Seccomp:\s+2$/m);
  });
});
