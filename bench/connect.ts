// How long a learner waits for their shell: from opening the WebSocket to the prompt's arrival,
// on a real nslab server against the peer (bench/peer/server.ts: ws + node-pty + bash, no
// sandbox), both child processes of this script, measured round by round in alternating order.
//
//   node --import tsx bench/connect.ts [--rounds 20] [--burst 20] [--burst-rounds 3] [--quick]
//   (as root; writes bench/results/connect.json)
//
// Measured:
//   1 client     one page connects, sends session.start, waits for session.ready and the
//                prompt; then closes, and the next round waits until the session is gone
//                (nslab: its cgroups removed; peer: its shell exited), so rounds do not overlap
//   N at once    N pages connect in the same instant (a class opening the lesson together);
//                p50 and p99 over every page of every round
// One round of each, not recorded, comes first: the first session of a fresh server pays for
// compiling code that every later one finds ready.
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
import { type BenchResult, benchArgs, describeMachine, figure, interleave, summarize, writeResult } from "./lib/stats";
import { BenchClient, type StartTimings } from "./lib/ws-client";

const USAGE = "node --import tsx bench/connect.ts [--rounds 20] [--burst 20] [--burst-rounds 3] [--lesson containers-vs-vms] [--quick]";
const args = benchArgs(
  process.argv.slice(2),
  USAGE,
  { rounds: 20, burst: 20, burstRounds: 3, lesson: "containers-vs-vms" },
  { rounds: 5, burst: 10, burstRounds: 1 },
);
const PEER_NAME = "bare ws + node-pty server";
const SETTLE_TIMEOUT_MS = 30_000;

type Candidate = "nslab" | "peer";

async function main(): Promise<void> {
  const lab = await startLabServer({ maxSessions: Math.max(50, args.burst * 2) });
  let peer: PeerServerProcess | null = null;
  const leftovers: Record<string, Leftovers> = {};
  let result: Omit<BenchResult, "takenAt">;
  try {
    peer = await startPeerServer();
    result = await measure(lab, peer);
  } finally {
    leftovers.nslab = await lab.stop();
    if (peer) leftovers.peer = await peer.stop();
    reportLeftovers(leftovers);
  }
  writeResult({ ...result, extra: { ...result.extra, leftovers } });
}

async function measure(lab: LabServerProcess, peer: PeerServerProcess): Promise<Omit<BenchResult, "takenAt">> {
  const urls: Record<Candidate, string> = { nslab: lab.url, peer: peer.url };

  /** Until the candidate has no session left: rounds must not overlap with a teardown. */
  const settle = async (name: Candidate) => {
    const deadline = performance.now() + SETTLE_TIMEOUT_MS;
    const busy = name === "nslab" ? () => lab.sessionCgroupCount() > 0 : () => processesInSessions(peer.shellPids).length > 0;
    while (busy()) {
      if (performance.now() > deadline) throw new Error(`${name}: sessions still there ${SETTLE_TIMEOUT_MS / 1000} s after their pages closed`);
      await new Promise((r) => setTimeout(r, 10));
    }
  };

  const connectAll = async (name: Candidate, count: number): Promise<{ timings: StartTimings[]; failures: string[] }> => {
    const clients = Array.from({ length: count }, () => new BenchClient(urls[name], { lesson: args.lesson }));
    const outcomes = await Promise.allSettled(clients.map((c) => c.start()));
    for (const c of clients) if (name === "peer" && c.ready) peer.shellPids.push(c.ready.hostPid);
    await Promise.all(clients.map((c) => (c.close(), c.closed())));
    await settle(name);
    return {
      timings: outcomes.flatMap((o) => (o.status === "fulfilled" ? [o.value] : [])),
      failures: outcomes.flatMap((o) => (o.status === "rejected" ? [String((o.reason as Error).message)] : [])),
    };
  };

  const one: Record<Candidate, StartTimings[]> = { nslab: [], peer: [] };
  const many: Record<Candidate, StartTimings[]> = { nslab: [], peer: [] };
  const failures: string[] = [];
  const record = (into: StartTimings[], run: { timings: StartTimings[]; failures: string[] }) => {
    into.push(...run.timings);
    failures.push(...run.failures);
    return run.timings[0]?.promptMs ?? Number.NaN;
  };

  const warmup = { nslab: (await connectAll("nslab", 1)).timings[0], peer: (await connectAll("peer", 1)).timings[0] };
  await interleave(args.rounds, {
    nslab: async () => record(one.nslab, await connectAll("nslab", 1)),
    peer: async () => record(one.peer, await connectAll("peer", 1)),
  });
  await interleave(args.burstRounds, {
    nslab: async () => record(many.nslab, await connectAll("nslab", args.burst)),
    peer: async () => record(many.peer, await connectAll("peer", args.burst)),
  });
  if (failures.length) throw new Error(`${failures.length} connections failed, e.g. ${failures.slice(0, 3).join("; ")}`);

  const prompt = (t: StartTimings[]) => summarize(t.map((x) => x.promptMs));
  const ready = (t: StartTimings[]) => summarize(t.map((x) => x.readyMs));
  const single = { nslab: prompt(one.nslab), peer: prompt(one.peer) };
  const burst = { nslab: prompt(many.nslab), peer: prompt(many.peer) };
  const ms = (v: number) => `${v.toFixed(1)} ms`;
  return {
    name: "connect",
    figures: [
      figure({
        name: "connect → first prompt byte, 1 client",
        unit: "ms",
        stat: "p50",
        nslab: single.nslab.p50,
        peerName: PEER_NAME,
        peer: single.peer.p50,
        budget: 1.3,
        detail: `${args.rounds} rounds, interleaved; p99 ${ms(single.nslab.p99)} vs ${ms(single.peer.p99)}; session.ready p50 ${ms(ready(one.nslab).p50)} vs ${ms(ready(one.peer).p50)}`,
      }),
      figure({
        name: `connect → first prompt byte, ${args.burst} clients at once`,
        unit: "ms",
        stat: "p50",
        nslab: burst.nslab.p50,
        peerName: PEER_NAME,
        peer: burst.peer.p50,
        budget: 1.3,
        detail: `${args.burstRounds} rounds of ${args.burst}, interleaved (${burst.nslab.n} pages each)`,
      }),
      figure({
        name: `connect → first prompt byte, ${args.burst} clients at once`,
        unit: "ms",
        stat: "p99",
        nslab: burst.nslab.p99,
        peerName: PEER_NAME,
        peer: burst.peer.p99,
        budget: 1.3,
        detail: `slowest page of each burst: nslab ${ms(burst.nslab.max)}, peer ${ms(burst.peer.max)}`,
      }),
    ],
    extra: {
      machine: describeMachine(),
      settings: args,
      promptMs: { single, burst },
      readyMs: { single: { nslab: ready(one.nslab), peer: ready(one.peer) }, burst: { nslab: ready(many.nslab), peer: ready(many.peer) } },
      warmupPromptMs: { nslab: warmup.nslab?.promptMs ?? null, peer: warmup.peer?.promptMs ?? null },
    },
  };
}

main().catch((err: unknown) => {
  console.error(`bench: ${(err as Error).stack ?? (err as Error).message}`);
  process.exit(1);
});
