// A class at full size: 200 learners joined, each with a sandbox open, 20 of them typing. Does
// the instructor's dashboard show what a learner typed within a second, does having it open
// slow the learners' terminals, and what does it cost the server?
//
//   node --import tsx bench/classroom.ts [--learners 200] [--typing 20] [--rounds 6] [--measure-s 10] [--quick] …
//   (as root; writes bench/results/classroom.json; --help lists every option)
//
// One real nslab server (a child process, lib/lab-server-process.ts) with the classroom on, an
// instructor secret of the bench's own and room for every learner. The instructor logs in
// (POST /teach/login) and makes a class of --learners places for the lesson; each learner joins
// it (POST /api/join) with a cookie of its own, from a loopback address of its own (the server
// limits joins per address: 20 at once, then one every 2 s, which would make a class behind one
// address take minutes to join), and opens the lab socket, which gives them the class's sandbox.
// Sandboxes start in waves of --batch; the server's start gate lines each wave up. Every page
// acknowledges its output as a browser does.
//
// Then, round by round, two windows of --measure-s seconds each, their order turning every
// round (lib/stats.ts interleave: closed, open; open, closed; …):
//   closed   no dashboard open
//   open     one dashboard stream (GET /api/classes/<id>/events) open since --settle-s before
//            the window, so its first burst (every card, every sandbox's first reading) is over
// In both, --typing learners (spread over the class) each type `echo mark-<learner>-<n>` and
// Enter every --period-ms (1500), staggered, and time on their own socket
//   echo     from sending the line to receiving its echo (the typed text back)
//   output   from sending it to receiving the output line `mark-<learner>-<n>`
// and in the open window, for every mark whose output line the learner received,
//   dashboard  from that moment to the `cards` event whose card for that learner (by name: a
//              mark on another card is counted apart, never as shown) has the line
//              `mark-<learner>-<n>` on its screen. A mark not on the dashboard --miss-after-s
//              (5) after the learner saw it is a miss: counted, and counted in the percentiles
//              as that wait, as an echo that never came counts as its timeout.
// The server's CPU (utime + stime of its process, threads included, /proc/<pid>/stat) over each
// window. A round of both, not measured, warms the server up first.
//
// Afterwards every page closes (the class has no reconnect grace: each sandbox ends with its
// page), the bench waits until no session and no sandbox process is left, and stops the server
// with SIGTERM; lib/lab-server-process.ts checks and removes what it left, and this script
// checks that the run directory and the cgroup parents are gone.
import fs from "node:fs";
import os from "node:os";
import { performance } from "node:perf_hooks";

import { type ClassDetail, DASHBOARD_UPDATE_MS } from "../common/classroom";
import {
  type CardsEvent,
  DashboardStream,
  classDetail,
  createClass,
  instructorLogin,
  joinClass,
  loopbackAddress,
} from "./lib/classroom-client";
import { type LabServerProcess, type Leftovers, reportLeftovers, startLabServer } from "./lib/lab-server-process";
import { type BenchResult, type Figure, type Summary, benchArgs, describeMachine, figure, interleave, processCpuMs, processRssBytes, summarize, writeResult } from "./lib/stats";
import { BenchClient, newLearnerId } from "./lib/ws-client";

const USAGE = [
  "node --import tsx bench/classroom.ts [options]",
  "  --learners 200       learners who join the class, each with a sandbox",
  "  --typing 20          of them, those who type (`echo mark-…` every --period-ms 1500)",
  "  --rounds 6           rounds of one window without the dashboard and one with it",
  "  --measure-s 10       seconds per window",
  "  --settle-s 3         seconds between opening (or closing) the dashboard and a window",
  "  --miss-after-s 5     a mark not on the dashboard this long after the learner saw it is a miss",
  "  --batch 20           sandboxes started at once (a wave)",
  "  --lesson containers-vs-vms",
  "  --quick              20 learners, 4 typing, one round of 5 s windows: a check that it runs",
].join("\n");
const args = benchArgs(
  process.argv.slice(2),
  USAGE,
  { learners: 200, typing: 20, periodMs: 1500, rounds: 6, measureS: 10, settleS: 3, missAfterS: 5, batch: 20, lesson: "containers-vs-vms" },
  { learners: 20, typing: 4, rounds: 1, measureS: 5, settleS: 2 },
);
const SECRET = `nslab-bench-instructor-${process.pid}`;
/** The requirement the dashboard is held to: what a learner typed is on it within a second. */
const REQUIREMENT_MS = 1000;
/** The most a typed command may take to come back (its echo, then its output). */
const COMMAND_TIMEOUT_MS = 5_000;
const START_TIMEOUT_MS = 180_000;
const TEARDOWN_TIMEOUT_MS = 180_000;
const JOIN_CONCURRENCY = 10;
const MiB = 1024 * 1024;

/** CSI sequences (colours, modes such as bracketed paste): stripped before a line is read. */
const CONTROL_SEQUENCE = /\x1b\[[0-9;?]*[A-Za-z]/g;

const learnerName = (index: number) => `learner-${String(index).padStart(3, "0")}`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

type Phase = "closed" | "open";

/** One typed command and what became of it (performance.now() times; null: never came). */
interface Command {
  mark: string;
  /** The typist's name in the class, which the card showing the mark must carry. */
  learnerName: string;
  phase: Phase;
  round: number;
  sentAt: number;
  echoAt: number | null;
  outputAt: number | null;
  /** The first `cards` event that showed the mark (open windows only). */
  dashboardAt: number | null;
}

/**
 * A learner who types: sends `echo <mark>` and Enter, and watches its own terminal output for
 * the echo of that line and then for the mark alone on a line (the command's output), keeping
 * the last bytes so that a mark split across two chunks is still found.
 */
class Typist {
  private tail = "";
  private pending: { command: Command; echoNeedle: string; outputLine: RegExp; done: () => void } | null = null;
  private seq = 0;

  constructor(
    readonly client: BenchClient,
    readonly index: number,
  ) {
    client.ws.on("message", (data, isBinary) => {
      if (isBinary) this.onOutput(data as Buffer);
    });
  }

  private onOutput(chunk: Buffer): void {
    const now = performance.now();
    this.tail = (this.tail + chunk.toString("latin1")).slice(-512);
    const pending = this.pending;
    if (!pending) return;
    if (pending.command.echoAt === null && this.tail.includes(pending.echoNeedle)) pending.command.echoAt = now;
    if (pending.command.echoAt !== null && pending.outputLine.test(this.tail.replace(CONTROL_SEQUENCE, ""))) {
      pending.command.outputAt = now;
      this.pending = null;
      pending.done();
    }
  }

  /** Types the next command and resolves with it once its output came, or after the timeout.
   *  `onTyped` hears of it just before it is sent (the dashboard's watcher awaits its mark). */
  async command(phase: Phase, round: number, onTyped: (command: Command) => void): Promise<Command> {
    if (this.pending) throw new Error("one command at a time per typist");
    const mark = `mark-${this.index}-${++this.seq}`;
    const command: Command = { mark, learnerName: learnerName(this.index), phase, round, sentAt: performance.now(), echoAt: null, outputAt: null, dashboardAt: null };
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.pending = null;
        resolve();
      }, COMMAND_TIMEOUT_MS);
      // The output line: the mark at the start of a line, once the control sequences are out
      // (bash ends bracketed paste, ESC [?2004l, and a CR before it runs the command).
      this.pending = {
        command,
        echoNeedle: `echo ${mark}`,
        outputLine: new RegExp(`[\r\n]${mark}\r`),
        done: () => {
          clearTimeout(timer);
          resolve();
        },
      };
      this.tail = "";
      onTyped(command);
      command.sentAt = performance.now();
      this.client.type(`echo ${mark}\r`);
    });
    return command;
  }
}

/** The learners' cards as the dashboard shows them: for each mark awaited, when it showed. */
class MarkWatcher {
  private readonly awaited = new Map<string, Command>();
  events = 0;
  cards = 0;
  bytes = 0;
  /** Marks the dashboard showed before the learner's own socket had the output line. */
  early = 0;
  /** Marks on another learner's card than the one who typed them (one learner's screen shown
   *  as another's): never counted as shown. */
  wrongCard = 0;

  await(command: Command): void {
    this.awaited.set(command.mark, command);
  }

  onCards = (event: CardsEvent): void => {
    this.events++;
    this.cards += event.cards.length;
    this.bytes += event.bytes;
    for (const card of event.cards) {
      for (const line of card.screen) {
        const text = line.trim();
        if (!text.startsWith("mark-")) continue;
        const command = this.awaited.get(text);
        if (!command || command.dashboardAt !== null) continue;
        if (card.name !== command.learnerName) {
          this.wrongCard++;
          continue;
        }
        command.dashboardAt = event.receivedAt;
        if (command.outputAt === null) this.early++;
      }
    }
  };

  /** Until every awaited mark is shown or missed (`missAfterMs` after its output came). */
  async settle(missAfterMs: number): Promise<void> {
    const unresolved = () =>
      [...this.awaited.values()].some((c) => c.dashboardAt === null && c.outputAt !== null && performance.now() - c.outputAt < missAfterMs);
    while (unresolved()) await sleep(50);
  }
}

interface Window {
  phase: Phase;
  round: number;
  commands: Command[];
  serverCpuPercent: number;
  /** This process's own CPU over the window (the clients and the dashboard's reader). */
  benchCpuPercent: number;
  loadAverage: number;
  seconds: number;
  dashboard: { events: number; cards: number; bytes: number; early: number; wrongCard: number } | null;
}

async function main(): Promise<void> {
  // Room for the class and a few more; the classroom's own instructor secret.
  const lab = await startLabServer({ maxSessions: args.learners + 20, env: { NSLAB_INSTRUCTOR_SECRET: SECRET } });
  const leftovers: Record<string, Leftovers> = {};
  const clients: BenchClient[] = [];
  let result: Omit<BenchResult, "takenAt">;
  let afterStop: { cgroupParents: string[]; runDir: boolean } = { cgroupParents: [], runDir: false };
  try {
    result = await measure(lab, clients);
  } finally {
    for (const c of clients) c.terminate();
    leftovers.nslab = await lab.stop();
    reportLeftovers(leftovers);
    afterStop = { cgroupParents: lab.parentDirs.filter((d) => fs.existsSync(d)), runDir: fs.existsSync(lab.runDir) };
    if (afterStop.cgroupParents.length > 0 || afterStop.runDir) {
      console.error(`classroom: after the server stopped, still there: ${[...afterStop.cgroupParents, ...(afterStop.runDir ? [lab.runDir] : [])].join(", ")}`);
      process.exitCode = 1;
    }
  }
  writeResult({ ...result, extra: { ...result.extra, leftovers, afterStop } });
}

async function measure(lab: LabServerProcess, clients: BenchClient[]): Promise<Omit<BenchResult, "takenAt">> {
  const base = `http://127.0.0.1:${lab.port}`;
  const typingCount = Math.min(args.typing, args.learners);

  // The instructor and the class. No reconnect grace: each sandbox ends with its page.
  const instructor = await instructorLogin(base, SECRET);
  const created: ClassDetail = await createClass(base, instructor, {
    name: "Benchmark class",
    lesson: args.lesson,
    capacity: args.learners,
    reconnectGraceS: 0,
    idleTimeoutS: 3 * 3600,
  });
  const classId = created.class.id;
  console.log(`classroom: class ${created.class.code} made for ${args.learners} learners`);

  // Every learner joins, each from its own address.
  const learnerIds = Array.from({ length: args.learners }, () => newLearnerId());
  const joinStart = performance.now();
  const joinFailures: string[] = [];
  let nextJoin = 0;
  await Promise.all(
    Array.from({ length: Math.min(JOIN_CONCURRENCY, args.learners) }, async () => {
      while (nextJoin < args.learners) {
        const i = nextJoin++;
        try {
          await joinClass(base, learnerIds[i]!, created.class.code, learnerName(i), loopbackAddress(i));
        } catch (err) {
          joinFailures.push((err as Error).message);
        }
      }
    }),
  );
  const joinSeconds = (performance.now() - joinStart) / 1000;
  if (joinFailures.length > 0) throw new Error(`${joinFailures.length} of ${args.learners} joins failed, e.g. ${joinFailures[0]}`);
  const joined = await classDetail(base, instructor, classId);
  if (joined.class.learners !== args.learners) throw new Error(`the class counts ${joined.class.learners} learners, not ${args.learners}`);
  console.log(`classroom: ${args.learners} learners joined in ${joinSeconds.toFixed(1)} s`);

  // Every learner's sandbox, in waves; each waits for its prompt.
  const startStart = performance.now();
  const startFailures: string[] = [];
  const promptMs: number[] = [];
  const byIndex = new Map<number, BenchClient>();
  for (let first = 0; first < args.learners; first += args.batch) {
    const wave = learnerIds.slice(first, first + args.batch).map((learnerId, k) => ({ index: first + k, client: new BenchClient(lab.url, { learnerId, lesson: args.lesson, timeoutMs: START_TIMEOUT_MS }) }));
    clients.push(...wave.map((w) => w.client));
    await Promise.all(
      wave.map(async ({ index, client }) => {
        try {
          const timings = await client.start();
          if (client.ready?.classroom?.classId !== classId) throw new Error(`learner ${index}'s sandbox is not the class's (${JSON.stringify(client.ready?.classroom)})`);
          promptMs.push(timings.promptMs);
          byIndex.set(index, client);
        } catch (err) {
          startFailures.push((err as Error).message);
        }
      }),
    );
  }
  const startSeconds = (performance.now() - startStart) / 1000;
  if (startFailures.length > 0) throw new Error(`${startFailures.length} of ${args.learners} sandboxes did not start, e.g. ${startFailures[0]}`);
  const health = await lab.healthz();
  console.log(`classroom: ${byIndex.size} sandboxes ready in ${startSeconds.toFixed(1)} s (the server counts ${health.sessions.live} live)`);

  // The typists, spread over the class.
  const typists = Array.from({ length: typingCount }, (_, k) => {
    const index = Math.floor((k * args.learners) / typingCount);
    return new Typist(byIndex.get(index)!, index);
  });

  let dashboard: DashboardStream | null = null;
  const openDashboard = async (watcher: MarkWatcher) => {
    dashboard = new DashboardStream(base, classId, instructor, watcher.onCards);
    const by = performance.now() + 30_000;
    while (dashboard.detail === null) {
      if (!dashboard.open) throw new Error(`the dashboard's stream ended before its first event: ${dashboard.failure}`);
      if (performance.now() > by) throw new Error("the dashboard's first event did not come within 30 s");
      await sleep(20);
    }
    if (dashboard.detail.learners.length !== args.learners) throw new Error(`the dashboard shows ${dashboard.detail.learners.length} cards, not ${args.learners}`);
  };
  const closeDashboard = () => {
    dashboard?.close();
    dashboard = null;
  };

  /** Every typist types every --period-ms for `durationMs`, staggered; resolves with every command. */
  const typeFor = async (phase: Phase, round: number, durationMs: number, watcher: MarkWatcher | null): Promise<Command[]> => {
    const commands: Command[] = [];
    const t0 = performance.now();
    await Promise.all(
      typists.map(async (typist, k) => {
        const offset = (k * args.periodMs) / typists.length;
        for (let tick = 0; ; tick++) {
          const at = t0 + offset + tick * args.periodMs;
          if (at - t0 >= durationMs) return;
          await sleep(Math.max(0, at - performance.now()));
          commands.push(await typist.command(phase, round, (c) => watcher?.await(c)));
          // A slow command skips the ticks it overran rather than typing them in a burst.
          tick = Math.max(tick, Math.floor((performance.now() - t0 - offset) / args.periodMs));
        }
      }),
    );
    return commands;
  };

  const windows: Window[] = [];
  const runWindow = async (phase: Phase, round: number, measured: boolean): Promise<void> => {
    const watcher = phase === "open" ? new MarkWatcher() : null;
    if (watcher) await openDashboard(watcher);
    await sleep(args.settleS * 1000);
    const durationMs = measured ? args.measureS * 1000 : Math.min(args.measureS, 3) * 1000;
    const cpu0 = processCpuMs(lab.pid);
    const bench0 = process.cpuUsage();
    const t0 = performance.now();
    const events0 = watcher ? { events: watcher.events, cards: watcher.cards, bytes: watcher.bytes } : null;
    const commands = await typeFor(phase, round, durationMs, watcher);
    const elapsedMs = performance.now() - t0;
    const serverCpuPercent = ((processCpuMs(lab.pid) - cpu0) / elapsedMs) * 100;
    const benchUsage = process.cpuUsage(bench0);
    const benchCpuPercent = ((benchUsage.user + benchUsage.system) / 1000 / elapsedMs) * 100;
    const loadAverage = os.loadavg()[0] ?? Number.NaN;
    let dashboardCounts: Window["dashboard"] = null;
    if (watcher && events0) {
      dashboardCounts = { events: watcher.events - events0.events, cards: watcher.cards - events0.cards, bytes: watcher.bytes - events0.bytes, early: 0, wrongCard: 0 };
      // The marks typed last get their chance to show (or to be missed) with the stream open.
      await watcher.settle(args.missAfterS * 1000);
      dashboardCounts.early = watcher.early;
      dashboardCounts.wrongCard = watcher.wrongCard;
      const stream = dashboard as DashboardStream | null;
      if (stream && !stream.open) throw new Error(`the dashboard's stream ended during the window: ${stream.failure}`);
      closeDashboard();
    }
    if (!measured) return;
    const window: Window = { phase, round, commands, serverCpuPercent, benchCpuPercent, loadAverage, seconds: elapsedMs / 1000, dashboard: dashboardCounts };
    windows.push(window);
    const s = summarize(commands.map((c) => (c.echoAt ?? c.sentAt + COMMAND_TIMEOUT_MS) - c.sentAt));
    const seen = commands.filter((c) => c.outputAt !== null && c.dashboardAt !== null);
    const d = summarize(seen.map((c) => c.dashboardAt! - c.outputAt!));
    console.log(
      `classroom: round ${round + 1}, dashboard ${phase}: ${commands.length} commands, echo p50 ${s.p50.toFixed(1)} p99 ${s.p99.toFixed(1)} ms, server CPU ${serverCpuPercent.toFixed(1)} %` +
        (phase === "open" ? `; dashboard p50 ${d.p50.toFixed(0)} p99 ${d.p99.toFixed(0)} ms, ${commands.filter((c) => c.outputAt !== null).length - seen.length} missed` : ""),
    );
  };

  // Warm-up: both windows once, short, not measured.
  await runWindow("open", -1, false);
  await runWindow("closed", -1, false);
  const rssBeforeBytes = processRssBytes(lab.pid);
  const done: Record<Phase, number> = { closed: 0, open: 0 };
  await interleave(args.rounds, {
    closed: async () => (await runWindow("closed", done.closed++, true), 0),
    open: async () => (await runWindow("open", done.open++, true), 0),
  });
  const rssAfterBytes = processRssBytes(lab.pid);

  // Every page closes: each sandbox ends with it (no grace), until nothing of them is left.
  const teardownStart = performance.now();
  for (const c of clients) c.close();
  const leftNow = async () => {
    const h = await lab.healthz().catch(() => null);
    return { cgroups: Math.max(0, lab.allSessionCgroupCount() - (h?.starts?.ready ?? 0)), pids: lab.sandboxPids().length, live: h?.sessions.live ?? 1 };
  };
  let left = await leftNow();
  while ((left.cgroups > 0 || left.pids > 0 || left.live > 0) && performance.now() - teardownStart < TEARDOWN_TIMEOUT_MS) {
    await sleep(100);
    left = await leftNow();
  }
  const teardownSeconds = (performance.now() - teardownStart) / 1000;
  console.log(`classroom: every page closed; ${teardownSeconds.toFixed(1)} s until ${left.live} live, ${left.cgroups} session cgroups and ${left.pids} sandbox processes were left`);
  const afterClose = await classDetail(base, instructor, classId);

  const wsErrors = new Map<string, number>();
  for (const c of clients) for (const [code, n] of c.errors) wsErrors.set(code, (wsErrors.get(code) ?? 0) + n);

  return {
    name: "classroom",
    figures: figures(windows, typingCount),
    extra: {
      machine: describeMachine(),
      settings: { ...args, typing: typingCount, dashboardUpdateMs: DASHBOARD_UPDATE_MS, requirementMs: REQUIREMENT_MS, commandTimeoutMs: COMMAND_TIMEOUT_MS },
      class: { learners: joined.class.learners, sandboxes: byIndex.size, typing: typists.map((t) => t.index) },
      join: { seconds: joinSeconds, concurrency: JOIN_CONCURRENCY, addresses: "one loopback address per learner" },
      start: { seconds: startSeconds, batch: args.batch, promptMs: summarize(promptMs) },
      windows: windows.map(({ commands, ...rest }) => ({ ...rest, ...windowSummary(commands) })),
      serverRssMiB: { before: rssBeforeBytes / MiB, after: rssAfterBytes / MiB },
      teardown: { seconds: teardownSeconds, left, cardsAfter: tally(afterClose.learners.map((c) => c.status)) },
      wsErrors: Object.fromEntries(wsErrors),
      serverErrors: Object.fromEntries(tally(lab.errorLines())),
      order: windows.map((w) => w.phase),
    },
  };
}

function tally(values: readonly string[]): Array<[string, number]> {
  const counts = new Map<string, number>();
  for (const v of values) counts.set(v, (counts.get(v) ?? 0) + 1);
  return [...counts].sort((a, b) => b[1] - a[1]);
}

/** The latencies of a set of commands: a reply that never came counts as the wait for it. */
function latencies(commands: readonly Command[], missAfterMs: number) {
  const echo = commands.map((c) => (c.echoAt ?? c.sentAt + COMMAND_TIMEOUT_MS) - c.sentAt);
  const output = commands.map((c) => (c.outputAt ?? c.sentAt + COMMAND_TIMEOUT_MS) - c.sentAt);
  const shown = commands.filter((c) => c.outputAt !== null);
  const dashboard = shown.map((c) => (c.dashboardAt === null ? missAfterMs : c.dashboardAt - c.outputAt!));
  return {
    echo: summarize(echo),
    output: summarize(output),
    dashboard: summarize(dashboard),
    timeouts: commands.filter((c) => c.outputAt === null).length,
    missed: shown.filter((c) => c.dashboardAt === null).length,
    shown: shown.length,
    negative: shown.filter((c) => c.dashboardAt !== null && c.dashboardAt < c.outputAt!).length,
  };
}

function windowSummary(commands: readonly Command[]) {
  const l = latencies(commands, args.missAfterS * 1000);
  return { commands: commands.length, echoMs: l.echo, outputMs: l.output, ...(commands[0]?.phase === "open" ? { dashboardMs: l.dashboard, dashboardMissed: l.missed } : {}), timeouts: l.timeouts };
}

function figures(windows: readonly Window[], typingCount: number): Figure[] {
  const of = (phase: Phase) => windows.filter((w) => w.phase === phase);
  const missAfterMs = args.missAfterS * 1000;
  const closed = latencies(of("closed").flatMap((w) => w.commands), missAfterMs);
  const open = latencies(of("open").flatMap((w) => w.commands), missAfterMs);
  const mean = (ws: readonly Window[], f: (w: Window) => number) => ws.reduce((n, w) => n + f(w), 0) / Math.max(1, ws.length);
  const cpu = { closed: mean(of("closed"), (w) => w.serverCpuPercent), open: mean(of("open"), (w) => w.serverCpuPercent) };
  const benchCpu = { closed: mean(of("closed"), (w) => w.benchCpuPercent), open: mean(of("open"), (w) => w.benchCpuPercent) };
  const load = windows.map((w) => w.loadAverage.toFixed(2)).join(", ");
  const openSeconds = of("open").reduce((n, w) => n + w.seconds, 0);
  const events = of("open").reduce((n, w) => n + (w.dashboard?.events ?? 0), 0);
  const cards = of("open").reduce((n, w) => n + (w.dashboard?.cards ?? 0), 0);
  const bytes = of("open").reduce((n, w) => n + (w.dashboard?.bytes ?? 0), 0);
  const early = of("open").reduce((n, w) => n + (w.dashboard?.early ?? 0), 0);
  const wrongCard = of("open").reduce((n, w) => n + (w.dashboard?.wrongCard ?? 0), 0);
  const ms = (v: number) => `${v.toFixed(1)} ms`;
  const perWindow = (phase: Phase) => of(phase).map((w) => w.serverCpuPercent.toFixed(1)).join(", ");
  const echoP99s = (phase: Phase) => of(phase).map((w) => latencies(w.commands, missAfterMs).echo.p99.toFixed(0)).join(", ");
  const who = `${args.learners} learners with a sandbox each, ${typingCount} typing a command every ${args.periodMs} ms`;
  const windowsSaid = `${of("closed").length} + ${of("open").length} windows of ${args.measureS} s, interleaved`;
  const timeouts = (l: ReturnType<typeof latencies>) => (l.timeouts ? `; ${l.timeouts} commands got no output within ${COMMAND_TIMEOUT_MS / 1000} s (counted as that)` : "");
  const echoDetail = (s: Summary, t: Summary) => `p50 ${ms(s.p50)} open against ${ms(t.p50)} closed`;
  const missedSaid = `${open.missed} of ${open.shown} marks never shown within ${args.missAfterS} s (misses, counted as ${args.missAfterS * 1000} ms)`;
  return [
    figure({
      name: `typed command's echo, dashboard open against closed (${who})`,
      unit: "ms",
      stat: "p99",
      nslab: open.echo.p99,
      peerName: "the same, no dashboard open",
      peer: closed.echo.p99,
      budget: 1.5,
      detail: `${echoDetail(open.echo, closed.echo)}; ${open.echo.n} and ${closed.echo.n} commands over ${windowsSaid}${timeouts(open)}${timeouts(closed)}; p99 window by window: open ${echoP99s("open")} ms, closed ${echoP99s("closed")} ms; load average ${load}`,
    }),
    figure({
      name: "typed command's output line, dashboard open against closed",
      unit: "ms",
      stat: "p99",
      nslab: open.output.p99,
      peerName: "the same, no dashboard open",
      peer: closed.output.p99,
      budget: null,
      detail: `from sending \`echo mark-…\` and Enter to the output line \`mark-…\` on the learner's socket; ${echoDetail(open.output, closed.output)}`,
    }),
    figure({
      name: `server CPU, dashboard open against closed (${args.learners} learners, ${typingCount} typing)`,
      unit: "% of a core",
      stat: "value",
      nslab: cpu.open,
      peerName: "the same, no dashboard open",
      peer: cpu.closed,
      budget: null,
      detail: `the server process (its threads, the terminal mirror's among them; not its spawner or the sandboxes), mean over the windows; this bench's own clients used ${benchCpu.open.toFixed(1)} % and ${benchCpu.closed.toFixed(1)} % of a core on the same 2 cores`,
    }),
    figure({
      name: "server CPU added by the dashboard",
      unit: "% of a core",
      stat: "value",
      nslab: cpu.open - cpu.closed,
      peerName: null,
      peer: null,
      ratio: null,
      budget: 10,
      detail: `${cpu.open.toFixed(1)} % with one dashboard open, ${cpu.closed.toFixed(1)} % with none (window by window: open ${perWindow("open")}; closed ${perWindow("closed")}); the stream carried ${(events / openSeconds).toFixed(1)} cards events a second, ${(cards / Math.max(1, events)).toFixed(0)} cards each on average, ${(bytes / openSeconds / 1024).toFixed(0)} KiB a second`,
    }),
    ...(["p50", "p99"] as const).map((stat) =>
      figure({
        name: "dashboard update: the learner's output line on their card",
        unit: "ms",
        stat,
        nslab: open.dashboard[stat],
        peerName: "requirement: within a second",
        peer: REQUIREMENT_MS,
        budget: stat === "p99" ? 1 : null,
        detail:
          stat === "p99"
            ? `${open.dashboard.n} marks (those whose output line the learner received); ${missedSaid}; min ${ms(open.dashboard.min)}, max ${ms(open.dashboard.max)}${early ? `; ${early} shown before the learner's own socket had the line (negative latency)` : ""}${wrongCard ? `; ${wrongCard} times a mark showed on another learner's card` : ""}; cards go out every ${DASHBOARD_UPDATE_MS} ms at most`
            : `from the moment the learner's socket receives \`mark-…\` to the \`cards\` event whose card shows it; mean ${ms(open.dashboard.mean)}`,
      }),
    ),
  ];
}

main().catch((err: unknown) => {
  console.error(`bench: ${(err as Error).stack ?? (err as Error).message}`);
  process.exit(1);
});
