// Output flood isolation: one learner runs `yes` in a tab that has stopped reading (a frozen or
// backgrounded page: no acks, its socket not read), while other learners type. Does their
// typing stay as quick as without the flood, and does the server's memory stay put?
//
//   node --import tsx bench/flood.ts [--rounds 2] [--measure-s 10] [--flood-command yes] [--quick]
//   (as root; writes bench/results/flood.json)
//
// For nslab and for the peer (bench/peer/server.ts: ws + node-pty + bash, which forwards output
// as fast as the pty gives it and buffers whatever the socket cannot take), in alternating order
// round by round:
//   without      the echo of --typists (4) sessions over --measure-s seconds, each typing one
//                character every 100 ms, staggered (four of them: a p99 of 100 echoes would be
//                their second worst)
//   with flood   one more session types the flood command, its page reads the first 64 KiB of
//                output and then stops reading; the typists' echo over the same span, and the
//                server's RSS sampled every 200 ms. The peer's memory grows without bound, so
//                its flood stops early once its RSS has grown by --peer-rss-cap-mib (2048).
// The flooding page is then dropped (its socket torn down), and the round waits until its
// session is gone. Rounds alternate which of the two windows comes first. The peer is started afresh each round so one round's heap is not the next's
// baseline; nslab runs throughout. A fresh server's first session (nslab's first round, every
// peer round) is a warm-up, typed into and closed before the typists'.
import { performance } from "node:perf_hooks";

import {
  type LabServerProcess,
  type Leftovers,
  type PeerServerProcess,
  processesInSessions,
  reportLeftovers,
  startLabServer,
  startPeerServer,
} from "./lib/lab-server-process";
import { type BenchResult, benchArgs, describeMachine, figure, interleave, processCpuMs, processRssBytes, summarize, writeResult } from "./lib/stats";
import { BenchClient, typeAndTime, warmUp } from "./lib/ws-client";

const USAGE =
  "node --import tsx bench/flood.ts [--rounds 2] [--measure-s 10] [--typists 4] [--flood-command yes] [--peer-rss-cap-mib 2048] [--lesson containers-vs-vms] [--quick]";
const args = benchArgs(
  process.argv.slice(2),
  USAGE,
  { rounds: 2, measureS: 10, typists: 4, periodMs: 100, floodCommand: "yes", peerRssCapMib: 2048, lesson: "containers-vs-vms" },
  { rounds: 1, measureS: 3 },
);
const PEER_NAME = "bare ws + node-pty server";
const MiB = 1024 * 1024;
/** Output the flooding page reads before it stops: the flood is under way by then. */
const READ_BEFORE_STOPPING = 64 * 1024;
const SETTLE_TIMEOUT_MS = 30_000;
const RSS_SAMPLE_MS = 200;
/** After sessions start or a flood ends, before a window: their own work settles first. */
const SETTLE_MS = 2_000;

type Candidate = "nslab" | "peer";

interface FloodRound {
  baseline: number[];
  flood: number[];
  timeouts: number;
  rssBeforeBytes: number;
  rssPeakBytes: number;
  rssAfterBytes: number;
  /** How long the flood ran (shorter than --measure-s when the peer hit the RSS cap). */
  floodSeconds: number;
  capped: boolean;
  serverCpuPercent: number;
  /** Output the flooding page was sent before it stopped reading, and all it was sent. */
  flooderBytes: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(busy: () => boolean, what: string): Promise<void> {
  const deadline = performance.now() + SETTLE_TIMEOUT_MS;
  while (busy()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

async function main(): Promise<void> {
  const lab = await startLabServer({ maxSessions: 10 });
  const leftovers: Record<string, Leftovers> = {};
  let result: Omit<BenchResult, "takenAt">;
  try {
    result = await measure(lab, leftovers);
  } finally {
    leftovers.nslab = await lab.stop();
    reportLeftovers(leftovers);
  }
  writeResult({ ...result, extra: { ...result.extra, leftovers } });
}

async function measure(lab: LabServerProcess, leftovers: Record<string, Leftovers>): Promise<Omit<BenchResult, "takenAt">> {
  const rounds: Record<Candidate, FloodRound[]> = { nslab: [], peer: [] };

  const run = async (name: Candidate): Promise<FloodRound> => {
    let peer: PeerServerProcess | null = null;
    try {
      if (name === "peer") peer = await startPeerServer();
      const server: { pid: number; url: string } = peer ?? lab;
      const shells = peer?.shellPids ?? [];
      /** While the client's session is still there (`others`: the sessions that stay). */
      const stillThere = (client: BenchClient, others: number) =>
        peer ? () => processesInSessions([client.ready?.hostPid ?? 0]).length > 0 : () => lab.sessionCgroupCount() > others;

      if (peer || rounds.nslab.length === 0) {
        const pid = await warmUp(server.url, { lesson: args.lesson });
        shells.push(pid);
        await until(peer ? () => processesInSessions([pid]).length > 0 : () => lab.sessionCgroupCount() > 0, "the warm-up session to end");
      }
      const typists = Array.from({ length: args.typists }, () => new BenchClient(server.url, { lesson: args.lesson }));
      await Promise.all(typists.map((t) => t.start()));
      for (const t of typists) if (t.ready) shells.push(t.ready.hostPid);
      await sleep(SETTLE_MS);
      const measureBaseline = () => typeAndTime(typists, { durationMs: args.measureS * 1000, periodMs: args.periodMs });

      const measureFlood = async () => {
        const rssBeforeBytes = processRssBytes(server.pid);
        const flooder = new BenchClient(server.url, { lesson: args.lesson });
        await flooder.start();
        if (flooder.ready) shells.push(flooder.ready.hostPid);
        flooder.type(`${args.floodCommand}\r`);
        await until(() => flooder.outputBytes < READ_BEFORE_STOPPING, "the flood to start");
        flooder.stopReading();

        let capped = false;
        let rssPeakBytes = rssBeforeBytes;
        const sampler = setInterval(() => {
          const rss = processRssBytes(server.pid);
          rssPeakBytes = Math.max(rssPeakBytes, rss);
          if (peer && rss - rssBeforeBytes > args.peerRssCapMib * MiB) capped = true;
        }, RSS_SAMPLE_MS);
        const cpu0 = processCpuMs(server.pid);
        const t0 = performance.now();
        const echo = await typeAndTime(typists, { durationMs: args.measureS * 1000, periodMs: args.periodMs, stop: () => capped });
        const floodMs = performance.now() - t0;
        const serverCpuPercent = ((processCpuMs(server.pid) - cpu0) / floodMs) * 100;
        clearInterval(sampler);
        rssPeakBytes = Math.max(rssPeakBytes, processRssBytes(server.pid));
        const flooderBytes = flooder.outputBytes;

        // The frozen tab is closed for good: the server sees its socket go.
        flooder.terminate();
        await until(stillThere(flooder, typists.length), `the flooding ${name} session to end`);
        await sleep(500);
        const rssAfterBytes = processRssBytes(server.pid);
        return { echo, rssBeforeBytes, rssPeakBytes, rssAfterBytes, floodSeconds: floodMs / 1000, capped, serverCpuPercent, flooderBytes };
      };

      // Without the flood first in one round, with it first in the next: neither window is
      // always the one just after the typists' sessions started.
      const floodFirst = rounds[name].length % 2 === 1;
      const flood = floodFirst ? await measureFlood() : null;
      if (floodFirst) await sleep(SETTLE_MS);
      const baseline = await measureBaseline();
      const { echo, ...floodRest } = flood ?? (await measureFlood());
      await Promise.all(typists.map((t) => (t.close(), t.closed())));
      for (const t of typists) await until(stillThere(t, 0), `the typing ${name} sessions to end`);
      const { rssBeforeBytes, rssPeakBytes, floodSeconds, capped, serverCpuPercent } = floodRest;
      console.log(
        `flood: ${name}: echo p99 ${summarize(echo.samples).p99.toFixed(2)} ms with the flood, ${summarize(baseline.samples).p99.toFixed(2)} without; ` +
          `RSS +${((rssPeakBytes - rssBeforeBytes) / MiB).toFixed(0)} MiB in ${floodSeconds.toFixed(1)} s${capped ? " (capped)" : ""}, CPU ${serverCpuPercent.toFixed(0)} %`,
      );
      return { baseline: baseline.samples, flood: echo.samples, timeouts: baseline.timeouts + echo.timeouts, ...floodRest };
    } finally {
      if (peer) leftovers[`peer, round ${rounds.peer.length + 1}`] = await peer.stop();
    }
  };

  await interleave(args.rounds, {
    nslab: async () => (rounds.nslab.push(await run("nslab")), 0),
    peer: async () => (rounds.peer.push(await run("peer")), 0),
  });

  const all = (name: Candidate, key: "baseline" | "flood") => summarize(rounds[name].flatMap((r) => r[key]));
  const growthMiB = (name: Candidate) => Math.max(...rounds[name].map((r) => (r.rssPeakBytes - r.rssBeforeBytes) / MiB));
  const cpu = (name: Candidate) => rounds[name].reduce((n, r) => n + r.serverCpuPercent, 0) / rounds[name].length;
  const floodS = (name: Candidate) => Math.min(...rounds[name].map((r) => r.floodSeconds));
  const capped = rounds.peer.some((r) => r.capped);
  const ms = (v: number) => `${v.toFixed(2)} ms`;
  const base = { nslab: all("nslab", "baseline"), peer: all("peer", "baseline") };
  const flood = { nslab: all("nslab", "flood"), peer: all("peer", "flood") };
  return {
    name: "flood",
    figures: [
      figure({
        name: `echo beside a session flooding (\`${args.floodCommand}\`, its page not reading), against no flood`,
        unit: "ms",
        stat: "p99",
        nslab: flood.nslab.p99,
        peerName: null,
        peer: null,
        ratio: flood.nslab.p99 / base.nslab.p99,
        budget: 1.5,
        detail: `nslab p99 ${ms(base.nslab.p99)} without; the peer's with/without: ${(flood.peer.p99 / base.peer.p99).toFixed(2)}× (${ms(flood.peer.p99)} against ${ms(base.peer.p99)})`,
      }),
      figure({
        name: "echo beside a flooding session",
        unit: "ms",
        stat: "p99",
        nslab: flood.nslab.p99,
        peerName: PEER_NAME,
        peer: flood.peer.p99,
        budget: null,
        detail: `${flood.nslab.n} and ${flood.peer.n} echoes; p50 ${ms(flood.nslab.p50)} against ${ms(flood.peer.p50)}`,
      }),
      figure({
        name: "echo with no flood",
        unit: "ms",
        stat: "p99",
        nslab: base.nslab.p99,
        peerName: PEER_NAME,
        peer: base.peer.p99,
        budget: null,
        detail: `p50 ${ms(base.nslab.p50)} against ${ms(base.peer.p50)}`,
      }),
      figure({
        name: "server RSS growth during the flood",
        unit: "MiB",
        stat: "value",
        nslab: growthMiB("nslab"),
        peerName: PEER_NAME,
        peer: growthMiB("peer"),
        budget: null,
        detail: capped
          ? `the peer's flood was stopped after ${floodS("peer").toFixed(1)} s, when its RSS had grown past ${args.peerRssCapMib} MiB`
          : `over ${args.measureS} s of flood`,
      }),
      figure({
        name: "server CPU during the flood",
        unit: "% of a core",
        stat: "value",
        nslab: cpu("nslab"),
        peerName: PEER_NAME,
        peer: cpu("peer"),
        budget: null,
      }),
    ],
    extra: {
      machine: describeMachine(),
      settings: args,
      echoMs: { without: base, with: flood },
      rounds: Object.fromEntries(
        Object.entries(rounds).map(([name, rs]) => [name, rs.map(({ baseline: _b, flood: _f, ...rest }) => rest)]),
      ),
    },
  };
}

main().catch((err: unknown) => {
  console.error(`bench: ${(err as Error).stack ?? (err as Error).message}`);
  process.exit(1);
});
