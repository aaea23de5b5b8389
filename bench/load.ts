// What typing feels like on a busy nslab server: echo latency while more and more sessions are
// open, while many pages watch their kernel state, and while a class joins at once; what an idle
// session costs; and whether closing every page leaves nothing behind.
//
//   node --import tsx bench/load.ts [--max-sessions 1000] [--levels 1,50,200,1000] [--quick] …
//   (as root; writes bench/results/load.json; --help lists every option)
//
// One real nslab server (a child process: its CPU and memory are read from /proc) with room
// for every session. Sessions are opened in batches up to each level; all are idle but
// `--typers` (10) that each type one character every 100 ms, staggered, and time its echo
// (the character back as terminal output; a Backspace, not timed, keeps the line empty). With
// one session open, that one types for all ten (every 10 ms): the same keystrokes a second and
// as many samples at every level, so that the p99s compare.
// Every page acknowledges its output, as a browser does, and names the lesson. Each server's
// first session is a warm-up, typed into and closed before anything is measured.
//
//   levels        echo p50/p99 at 1, 50, 200 and 1000 open;
//                 at 1 and 50 the peer (bench/peer/server.ts, started afresh for each) is
//                 measured the same way, its windows interleaved with nslab's
//   watched       at 200 open: 100 pages (the typers and 90 idle) send state.watch true (the
//                 server reads their kernel state ten times a second and streams what changes),
//                 against the same 200 with none watched, interleaved; the server's CPU time
//                 over those windows (/proc/<pid>/stat), the difference per 100 watched
//   join wave     at the top level, 50 new sessions start at once while the typers type; the
//                 echo from the first start to the last prompt, against a window just before
//   memory        server RSS and host MemAvailable at each level, per idle session
//   teardown      every socket closes (grace 0: each session ends with its page), until no
//                 session cgroup and no sandbox process is left
import fs from "node:fs";
import path from "node:path";
import { performance } from "node:perf_hooks";

import {
  type LabServerProcess,
  type Leftovers,
  processesInSessions,
  reportLeftovers,
  startLabServer,
  startPeerServer,
} from "./lib/lab-server-process";
import {
  type BenchResult,
  type Figure,
  type Summary,
  benchArgs,
  describeMachine,
  figure,
  hostAvailableBytes,
  interleave,
  processCpuMs,
  processRssBytes,
  summarize,
  writeResult,
} from "./lib/stats";
import { BenchClient, type EchoRun, startMany, typeAndTime, warmUp } from "./lib/ws-client";

const USAGE = [
  "node --import tsx bench/load.ts [options]",
  "  --max-sessions 1000     the top level (levels above it are dropped, it is added)",
  "  --levels 1,50,200,1000  sessions open at each measurement",
  "  --typers 10             sessions that type (one character every --period-ms 100)",
  "  --measure-s 10          seconds per echo window; --echo-rounds 2 windows per level",
  "  --watch-at 200 --watched 100 --watch-rounds 2",
  "  --wave 50               sessions of the join wave",
  "  --batch 20              sessions opened at once while ramping up",
  "  --open-deadline-s 1200  the most the ramp may take, all levels together",
  "  --peer-levels 1,50      levels the peer is measured at",
  "  --lesson containers-vs-vms",
  "  --quick                 small sizes: a check that it runs",
].join("\n");
const args = benchArgs(
  process.argv.slice(2),
  USAGE,
  {
    maxSessions: 1000,
    levels: "1,50,200,1000",
    typers: 10,
    periodMs: 100,
    measureS: 10,
    echoRounds: 2,
    watchAt: 200,
    watched: 100,
    watchRounds: 2,
    wave: 50,
    batch: 20,
    openDeadlineS: 1200,
    peerLevels: "1,50",
    lesson: "containers-vs-vms",
  },
  { maxSessions: 60, levels: "1,30,60", measureS: 3, echoRounds: 1, watchAt: 30, watched: 20, watchRounds: 1, wave: 10, peerLevels: "1,30" },
);
const PEER_NAME = "bare ws + node-pty server";
const MiB = 1024 * 1024;
/** After a ramp, before measuring: the starts' own work (mirrors, first readings) settles. */
const SETTLE_MS = 2_000;
const TEARDOWN_TIMEOUT_MS = 180_000;
const WAVE_TIMEOUT_MS = 120_000;

/** Each distinct line with how often it came, most frequent first. */
function tally(lines: readonly string[]): Array<[string, number]> {
  const counts = new Map<string, number>();
  for (const line of lines) counts.set(line, (counts.get(line) ?? 0) + 1);
  return [...counts].sort((a, b) => b[1] - a[1]);
}

/** Least-squares slope of y over x: memory per session from every level, not just two. */
function slope(points: ReadonlyArray<{ x: number; y: number }>): number {
  const n = points.length;
  const mx = points.reduce((a, p) => a + p.x, 0) / n;
  const my = points.reduce((a, p) => a + p.y, 0) / n;
  const sxx = points.reduce((a, p) => a + (p.x - mx) ** 2, 0);
  return sxx === 0 ? Number.NaN : points.reduce((a, p) => a + (p.x - mx) * (p.y - my), 0) / sxx;
}

function levelsOf(list: string, max: number): number[] {
  const levels = list.split(",").map(Number).filter((n) => Number.isInteger(n) && n > 0 && n < max);
  return [...new Set([...levels, max])].sort((a, b) => a - b);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const sessions = (n: number) => `${n} session${n === 1 ? "" : "s"}`;

/** CPU time the sandboxes under the bench's cgroup parent have used so far, in milliseconds
 *  (cpuacct.usage on cgroup v1, usage_usec of cpu.stat on v2); null where neither is found. */
function sandboxesCpuMs(parentDirs: readonly string[]): number | null {
  for (const dir of parentDirs) {
    try {
      return Number(fs.readFileSync(path.join(dir, "cpuacct.usage"), "utf8")) / 1e6;
    } catch {
      // not the cpuacct hierarchy
    }
    const usec = /^usage_usec (\d+)$/m.exec(fs.existsSync(path.join(dir, "cpu.stat")) ? fs.readFileSync(path.join(dir, "cpu.stat"), "utf8") : "")?.[1];
    if (usec !== undefined) return Number(usec) / 1000;
  }
  return null;
}

/** A server's CPU time over a stretch of wall time, as % of one core. */
function cpuMeter(pid: number): () => number {
  const cpu0 = processCpuMs(pid);
  const t0 = performance.now();
  return () => ((processCpuMs(pid) - cpu0) / (performance.now() - t0)) * 100;
}

interface EchoWindow extends EchoRun {
  /** The server's CPU over the window, % of one core. */
  serverCpuPercent: number;
}

/** Fewer typers than --typers (at 1 session open) type faster, so that every level sees the same
 *  keystrokes a second and gives as many samples: a p99 of 200 echoes is its second worst. */
function periodFor(typers: readonly BenchClient[]): number {
  return (args.periodMs * typers.length) / Math.max(typers.length, args.typers);
}

async function echoWindow(pid: number, typers: readonly BenchClient[], durationMs: number): Promise<EchoWindow> {
  const cpu = cpuMeter(pid);
  const run = await typeAndTime(typers, { durationMs, periodMs: periodFor(typers) });
  return { ...run, serverCpuPercent: cpu() };
}

function merge(windows: readonly EchoWindow[]): { summary: Summary; timeouts: number; cpuPercent: number; failures: string[] } {
  return {
    summary: summarize(windows.flatMap((w) => w.samples)),
    timeouts: windows.reduce((n, w) => n + w.timeouts, 0),
    cpuPercent: windows.reduce((n, w) => n + w.serverCpuPercent, 0) / Math.max(1, windows.length),
    failures: windows.flatMap((w) => w.failures).slice(0, 3),
  };
}

interface LevelResult {
  open: number;
  typers: number;
  nslab: ReturnType<typeof merge>;
  peer: ReturnType<typeof merge> | null;
  serverRssBytes: number;
  hostAvailableBytes: number;
}

async function main(): Promise<void> {
  const lab = await startLabServer({ maxSessions: args.maxSessions + args.wave + 10 });
  const leftovers: Record<string, Leftovers> = {};
  let result: Omit<BenchResult, "takenAt">;
  const clients: BenchClient[] = [];
  try {
    result = await measure(lab, clients, leftovers);
  } finally {
    for (const c of clients) c.terminate();
    leftovers.nslab = await lab.stop();
    reportLeftovers(leftovers);
  }
  writeResult({ ...result, extra: { ...result.extra, leftovers } });
}

async function measure(lab: LabServerProcess, all: BenchClient[], leftovers: Record<string, Leftovers>): Promise<Omit<BenchResult, "takenAt">> {
  const levels = levelsOf(args.levels, args.maxSessions);
  const peerLevels = new Set(args.peerLevels.split(",").map(Number).filter((l) => levels.includes(l)));
  const watchAt = levels.includes(args.watchAt) ? args.watchAt : levels.find((l) => l >= args.watchAt) ?? args.maxSessions;
  const openBy = performance.now() + args.openDeadlineS * 1000;
  const failures: string[] = [];
  const typers: BenchClient[] = [];
  const idle: BenchClient[] = [];

  const open = async (url: string, count: number, concurrency: number, by = openBy): Promise<BenchClient[]> => {
    if (count <= 0) return [];
    const started = await startMany(count, () => new BenchClient(url, { lesson: args.lesson }), {
      concurrency,
      deadlineMs: Math.max(0, by - performance.now()),
    });
    failures.push(...started.failures);
    all.push(...started.clients);
    return started.clients;
  };
  /** Open sessions until `level` are open, typers first. */
  const rampTo = async (url: string, level: number, into: { typers: BenchClient[]; idle: BenchClient[] }) => {
    const wantTypers = Math.min(args.typers, level);
    into.typers.push(...(await open(url, wantTypers - into.typers.length, args.batch)));
    into.idle.push(...(await open(url, level - into.typers.length - into.idle.length, args.batch)));
  };

  /** Until `busy()` is false, or a minute (then the run goes on, and the leftover check tells). */
  const settle = async (busy: () => boolean) => {
    const by = performance.now() + 60_000;
    while (busy() && performance.now() < by) await sleep(20);
  };
  await warmUp(lab.url, { lesson: args.lesson });
  await settle(() => lab.sessionCgroupCount() > 0);

  const results: LevelResult[] = [];
  let peerWave: WaveResult | null = null;
  let watchedResult: { none: ReturnType<typeof merge>; watched: ReturnType<typeof merge>; watchedCount: number; open: number; statePerSecond: number } | null = null;
  const rampTimes: Array<{ level: number; seconds: number }> = [];

  for (const level of levels) {
    const t0 = performance.now();
    await rampTo(lab.url, level, { typers, idle });
    rampTimes.push({ level, seconds: (performance.now() - t0) / 1000 });
    const openNow = typers.length + idle.length;
    console.log(`load: ${sessions(openNow)} open on nslab (${((performance.now() - t0) / 1000).toFixed(1)} s to ramp)`);
    await sleep(SETTLE_MS);
    const memory = { serverRssBytes: processRssBytes(lab.pid), hostAvailableBytes: hostAvailableBytes() };

    const windows = { nslab: [] as EchoWindow[], peer: [] as EchoWindow[] };
    if (peerLevels.has(level)) {
      // A peer of its own for each of its levels, stopped before the next level's memory is
      // read, so the host's memory per session counts nslab's sessions only.
      const peer = await startPeerServer();
      const peerClients = { typers: [] as BenchClient[], idle: [] as BenchClient[] };
      try {
        const pid = await warmUp(peer.url, { lesson: args.lesson });
        peer.shellPids.push(pid);
        await settle(() => processesInSessions([pid]).length > 0);
        await rampTo(peer.url, level, peerClients);
        for (const c of [...peerClients.typers, ...peerClients.idle]) if (c.ready) peer.shellPids.push(c.ready.hostPid);
        await sleep(SETTLE_MS);
        await interleave(args.echoRounds, {
          nslab: async () => (windows.nslab.push(await echoWindow(lab.pid, typers, args.measureS * 1000)), 0),
          peer: async () => (windows.peer.push(await echoWindow(peer.pid, peerClients.typers, args.measureS * 1000)), 0),
        });
        if (level === Math.max(...peerLevels)) {
          // The same join wave on the peer, for scale: its typers' echo while it starts as many.
          const peerBefore = await typeAndTime(peerClients.typers, { durationMs: args.measureS * 1000, periodMs: periodFor(peerClients.typers) });
          let done = false;
          const peerDuring = typeAndTime(peerClients.typers, { durationMs: 600_000, periodMs: periodFor(peerClients.typers), stop: () => done });
          const t = performance.now();
          const joined = await open(peer.url, args.wave, args.wave, performance.now() + WAVE_TIMEOUT_MS);
          const seconds = (performance.now() - t) / 1000;
          done = true;
          for (const c of joined) if (c.ready) peer.shellPids.push(c.ready.hostPid);
          peerClients.idle.push(...joined);
          peerWave = { before: peerBefore, during: await peerDuring, waveSeconds: seconds, count: joined.length };
          console.log(`load: the peer's join wave of ${joined.length} in ${seconds.toFixed(1)} s: echo p99 ${summarize(peerWave.during.samples).p99.toFixed(2)} ms against ${summarize(peerBefore.samples).p99.toFixed(2)} before`);
        }
      } finally {
        for (const c of [...peerClients.typers, ...peerClients.idle]) c.terminate();
        leftovers[`peer at ${sessions(level)}`] = await peer.stop();
      }
    } else {
      for (let r = 0; r < args.echoRounds; r++) windows.nslab.push(await echoWindow(lab.pid, typers, args.measureS * 1000));
    }
    results.push({ open: openNow, typers: typers.length, nslab: merge(windows.nslab), peer: windows.peer.length ? merge(windows.peer) : null, ...memory });
    const last = results.at(-1)!;
    console.log(`load: ${sessions(openNow)} open: echo p50 ${last.nslab.summary.p50.toFixed(2)} p99 ${last.nslab.summary.p99.toFixed(2)} ms, server CPU ${last.nslab.cpuPercent.toFixed(1)} %, RSS ${(memory.serverRssBytes / MiB).toFixed(0)} MiB`);

    if (level === watchAt) {
      const watchers = [...typers, ...idle].slice(0, Math.min(args.watched, openNow));
      const none: EchoWindow[] = [];
      const watched: EchoWindow[] = [];
      let deltas = 0;
      let watchedMs = 0;
      await interleave(args.watchRounds, {
        none: async () => {
          for (const c of watchers) c.watchState(false);
          await sleep(1_000);
          none.push(await echoWindow(lab.pid, typers, args.measureS * 1000));
          return 0;
        },
        watched: async () => {
          for (const c of watchers) c.watchState(true);
          // The first reading of each is a full snapshot; the steady stream is what is measured.
          await sleep(1_000);
          const d0 = watchers.reduce((n, c) => n + c.stateDeltas, 0);
          const t = performance.now();
          watched.push(await echoWindow(lab.pid, typers, args.measureS * 1000));
          deltas += watchers.reduce((n, c) => n + c.stateDeltas, 0) - d0;
          watchedMs += performance.now() - t;
          return 0;
        },
      });
      for (const c of watchers) c.watchState(false);
      watchedResult = { none: merge(none), watched: merge(watched), watchedCount: watchers.length, open: openNow, statePerSecond: deltas / (watchedMs / 1000) };
      console.log(`load: ${watchers.length} of ${openNow} watched: echo p99 ${watchedResult.watched.summary.p99.toFixed(2)} ms against ${watchedResult.none.summary.p99.toFixed(2)}, server CPU ${watchedResult.watched.cpuPercent.toFixed(1)} % against ${watchedResult.none.cpuPercent.toFixed(1)} %`);
    }
  }

  // The join wave: a class opens the lesson at once while the typers go on typing.
  const before = await echoWindow(lab.pid, typers, args.measureS * 1000);
  let waveDone = false;
  // What the wave costs the machine: the new sandboxes' own start (launcher, bash --login)
  // against the server's work for it, both against the two cores the typers' echo shares.
  const waveServerCpu = cpuMeter(lab.pid);
  const waveSandboxCpu0 = sandboxesCpuMs(lab.parentDirs);
  const waveStart = performance.now();
  const waveEcho = typeAndTime(typers, { durationMs: 600_000, periodMs: periodFor(typers), stop: () => waveDone });
  const waveClients = await open(lab.url, args.wave, args.wave, performance.now() + WAVE_TIMEOUT_MS);
  const waveSeconds = (performance.now() - waveStart) / 1000;
  const waveCpu = {
    serverPercent: waveServerCpu(),
    sandboxesPercent: waveSandboxCpu0 === null ? null : ((sandboxesCpuMs(lab.parentDirs) ?? waveSandboxCpu0) - waveSandboxCpu0) / (waveSeconds * 10),
  };
  waveDone = true;
  const during = await waveEcho;
  console.log(
    `load: join wave of ${waveClients.length} in ${waveSeconds.toFixed(1)} s: echo p99 ${summarize(during.samples).p99.toFixed(2)} ms against ${summarize(before.samples).p99.toFixed(2)} before; ` +
      `CPU meanwhile: server ${waveCpu.serverPercent.toFixed(0)} %, sandboxes ${waveCpu.sandboxesPercent?.toFixed(0) ?? "?"} % of a core`,
  );

  // Teardown: every page closes; with no grace period every session ends with its page.
  const sessionsOpen = typers.length + idle.length + waveClients.length;
  const teardownStart = performance.now();
  for (const c of [...typers, ...idle, ...waveClients]) c.close();
  const teardownBy = teardownStart + TEARDOWN_TIMEOUT_MS;
  // A /healthz the server is too busy to answer counts as sessions still live. The cgroups it
  // keeps prepared ahead (as many as it says) are its stock, not leftovers.
  const leftNow = async () => {
    const health = await lab.healthz().catch(() => null);
    return {
      cgroups: Math.max(0, lab.allSessionCgroupCount() - (health?.starts?.ready ?? 0)),
      pids: lab.sandboxPids().length,
      live: health?.sessions.live ?? 1,
    };
  };
  let left = await leftNow();
  while ((left.cgroups > 0 || left.pids > 0 || left.live > 0) && performance.now() < teardownBy) {
    await sleep(100);
    left = await leftNow();
  }
  const teardownSeconds = (performance.now() - teardownStart) / 1000;
  console.log(`load: teardown of ${sessionsOpen} sessions took ${teardownSeconds.toFixed(1)} s; left: ${left.cgroups} cgroups, ${left.pids} processes`);
  const serverErrors = lab.errorLines();
  if (failures.length) {
    console.error(`load: ${failures.length} sessions failed to start, e.g. ${failures[0]}`);
    for (const [line, count] of tally(serverErrors)) console.error(`load: the server logged ${count}× ${line}`);
  }

  return { name: "load", figures: figures(results, watchedResult, { before, during, waveSeconds, count: waveClients.length }, peerWave, { seconds: teardownSeconds, sessions: sessionsOpen, left }), extra: {
    machine: describeMachine(),
    settings: args,
    levels: results,
    watched: watchedResult,
    wave: { seconds: waveSeconds, sessions: waveClients.length, before: summarize(before.samples), during: summarize(during.samples), cpu: waveCpu },
    rampTimes,
    startFailures: failures.slice(0, 10),
    startFailureCount: failures.length,
    serverErrors: Object.fromEntries(tally(serverErrors)),
  } };
}

interface WaveResult {
  before: EchoRun;
  during: EchoRun;
  waveSeconds: number;
  count: number;
}

function figures(
  levels: readonly LevelResult[],
  watched: { none: ReturnType<typeof merge>; watched: ReturnType<typeof merge>; watchedCount: number; open: number; statePerSecond: number } | null,
  wave: WaveResult,
  peerWave: WaveResult | null,
  teardown: { seconds: number; sessions: number; left: { cgroups: number; pids: number } },
): Figure[] {
  const out: Figure[] = [];
  const ms = (v: number) => `${v.toFixed(2)} ms`;
  for (const l of levels) {
    const detail = `${l.nslab.summary.n} echoes from ${l.typers} typing; server CPU ${l.nslab.cpuPercent.toFixed(1)} % of a core${l.nslab.timeouts ? `; ${l.nslab.timeouts} echoes timed out` : ""}`;
    for (const stat of ["p50", "p99"] as const) {
      out.push(
        figure({
          name: `echo, ${sessions(l.open)} open`,
          unit: "ms",
          stat,
          nslab: l.nslab.summary[stat],
          peerName: l.peer ? PEER_NAME : null,
          peer: l.peer ? l.peer.summary[stat] : null,
          budget: null,
          detail: l.peer ? `${detail}; peer ${l.peer.summary.n} echoes, its CPU ${l.peer.cpuPercent.toFixed(1)} %` : detail,
        }),
      );
    }
  }
  const first = levels[0];
  const top = levels.at(-1);
  if (first && top && top !== first) {
    out.push(
      figure({
        name: `echo, ${sessions(top.open)} open against ${sessions(first.open)}`,
        unit: "ms",
        stat: "p99",
        nslab: top.nslab.summary.p99,
        peerName: null,
        peer: null,
        ratio: top.nslab.summary.p99 / first.nslab.summary.p99,
        budget: 1.5,
        detail: `p99 ${ms(first.nslab.summary.p99)} with ${first.open} open`,
      }),
    );
  }
  if (watched) {
    out.push(
      figure({
        name: `echo, ${watched.open} open, ${watched.watchedCount} of them watched, against none watched`,
        unit: "ms",
        stat: "p99",
        nslab: watched.watched.summary.p99,
        peerName: null,
        peer: null,
        ratio: watched.watched.summary.p99 / watched.none.summary.p99,
        budget: 1.5,
        detail: `p99 ${ms(watched.none.summary.p99)} unwatched; p50 ${ms(watched.watched.summary.p50)} against ${ms(watched.none.summary.p50)}; ${watched.statePerSecond.toFixed(0)} state.delta frames a second`,
      }),
    );
    const perHundred = ((watched.watched.cpuPercent - watched.none.cpuPercent) * 100) / watched.watchedCount;
    out.push(
      figure({
        name: "server CPU per 100 watched sessions",
        unit: "% of a core",
        stat: "value",
        nslab: perHundred,
        peerName: null,
        peer: null,
        ratio: null,
        budget: 10,
        detail: `server ${watched.watched.cpuPercent.toFixed(1)} % with ${watched.watchedCount} watched, ${watched.none.cpuPercent.toFixed(1)} % with none, ${watched.open} open, over ${args.measureS} s windows`,
      }),
    );
  }
  const before = summarize(wave.before.samples);
  const during = summarize(wave.during.samples);
  out.push(
    figure({
      name: `echo during a join wave of ${args.wave} sessions, against before it`,
      unit: "ms",
      stat: "p99",
      nslab: during.p99,
      peerName: null,
      peer: null,
      ratio: during.p99 / before.p99,
      budget: 2,
      detail: `${wave.count} of ${args.wave} started, in ${wave.waveSeconds.toFixed(1)} s (${during.n} echoes, ${wave.during.timeouts} timed out); before: p99 ${ms(before.p99)}`,
    }),
  );
  if (peerWave) {
    const peerBefore = summarize(peerWave.before.samples);
    const peerDuring = summarize(peerWave.during.samples);
    out.push(
      figure({
        name: `echo during a join wave of ${args.wave} sessions, against the peer's during its own`,
        unit: "ms",
        stat: "p99",
        nslab: during.p99,
        peerName: PEER_NAME,
        peer: peerDuring.p99,
        budget: null,
        detail: `the peer: ${peerWave.count} started in ${peerWave.waveSeconds.toFixed(1)} s beside ${Math.max(...levelsWithPeer(levels))} open; its echo p50 ${ms(peerDuring.p50)}, p99 ${ms(peerDuring.p99)} during, p99 ${ms(peerBefore.p99)} before (${(peerDuring.p99 / peerBefore.p99).toFixed(1)}×); nslab p50 ${ms(during.p50)} during`,
      }),
    );
  }
  if (first && top && top.open > first.open) {
    const fit = "slope of a least-squares line through every level";
    out.push(
      figure({
        name: "server RSS per idle session",
        unit: "MiB",
        stat: "value",
        nslab: slope(levels.map((l) => ({ x: l.open, y: l.serverRssBytes }))) / MiB,
        peerName: null,
        peer: null,
        budget: null,
        detail: `${fit}: ${(first.serverRssBytes / MiB).toFixed(0)} MiB with ${first.open} open, ${(top.serverRssBytes / MiB).toFixed(0)} MiB with ${top.open}`,
      }),
      figure({
        name: "host memory per idle session (MemAvailable)",
        unit: "MiB",
        stat: "value",
        nslab: -slope(levels.map((l) => ({ x: l.open, y: l.hostAvailableBytes }))) / MiB,
        peerName: null,
        peer: null,
        budget: null,
        detail: `${fit}: MemAvailable ${(first.hostAvailableBytes / 2 ** 30).toFixed(2)} GiB with ${first.open} open, ${(top.hostAvailableBytes / 2 ** 30).toFixed(2)} GiB with ${top.open}`,
      }),
    );
  }
  out.push(
    figure({
      name: `teardown of ${teardown.sessions} sessions (every page closes)`,
      unit: "s",
      stat: "value",
      nslab: teardown.seconds,
      peerName: null,
      peer: null,
      budget: null,
      detail: "until no session cgroup and no sandbox process is left and /healthz counts none",
    }),
    figure({
      name: "left after teardown (session cgroups + processes)",
      unit: "count",
      stat: "value",
      nslab: teardown.left.cgroups + teardown.left.pids,
      peerName: null,
      peer: null,
      ratio: null,
      budget: 0,
      detail: `${teardown.left.cgroups} cgroups, ${teardown.left.pids} processes`,
    }),
  );
  return out;
}

main().catch((err: unknown) => {
  console.error(`bench: ${(err as Error).stack ?? (err as Error).message}`);
  process.exit(1);
});

/** The levels at which the peer was measured. */
function levelsWithPeer(levels: readonly LevelResult[]): number[] {
  return levels.filter((l) => l.peer !== null).map((l) => l.open);
}
