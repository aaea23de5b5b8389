// What the relay between nodes costs a learner (server/cluster/relay.ts): a page whose socket
// reaches node A while its sandbox runs on node B is served by A copying frames to B and back.
// Two nodes sharing a throwaway PostgreSQL, each a process of its own (server/testing/
// lab-node-main.ts), and two learners with a sandbox each on B, one's page connected to B
// itself, the other's to A, relayed. Both are the same kind of idle shell on the same node, so
// the only difference between them is the hop through A: the ratio relayed / direct is the
// figure, the direct path measured in the same run, round by round.
//
//   node --import tsx bench/cluster.ts [--rounds 500] [--resume-rounds 20] [--quick]
//   (as root, with PostgreSQL installed; writes bench/results/cluster.json)
//
// Measured, the two paths interleaved (interleave: one order one round, the other the next):
//   echo      one keystroke to its echo on the learner's socket, each path one every
//             ECHO_GAP_MS; p50 and p99 over every round. Halfway the two pages swap nodes
//             (each resumes through the other one), so each sandbox serves both paths.
//   resume    the page closes, and once B counts the session as waiting for its page, a new
//             socket (to B, or to A) sends session.resume with the last token: opening the
//             socket → session.ready. The terminal's replay is read before the next step.
// The relayed learner's sandbox is started on B directly and then resumed through A, as a
// reload lands on whichever node the ingress picks: a session has one owner, and A relays the
// resume to it (checked: A runs no sandbox at the end).
import fs from "node:fs";
import path from "node:path";
import { performance } from "node:perf_hooks";

import { z } from "zod";

import { type ClientMessage, PROTOCOL_VERSION, parseServerMessage } from "../common/protocol";
import { hostCgroupDriver } from "../server/sandbox/cgroup";
import { SandboxHost } from "../server/sandbox/host";
import { testHostOptions } from "../server/testing/kernel";
import { type LabNodeProcess, startLabNodeProcess } from "../server/testing/lab-node-process";
import { type PgCluster, startPgCluster } from "../server/testing/pg-cluster";
import { type Leftovers, cgroupParentDirs, childDirs, descendantsOf, processesOf, removeTrees, reportLeftovers, stillRunning, terminate } from "./lib/lab-server-process";
import { type BenchResult, benchArgs, describeMachine, figure, interleave, summarize, writeResult } from "./lib/stats";
import { BenchClient, type SessionReady, newLearnerId } from "./lib/ws-client";

const USAGE = "node --import tsx bench/cluster.ts [--rounds 500] [--resume-rounds 20] [--lesson containers-vs-vms] [--quick]";
const args = benchArgs(process.argv.slice(2), USAGE, { rounds: 500, resumeRounds: 20, lesson: "containers-vs-vms" }, { rounds: 100, resumeRounds: 5 });

const NAME = `nslab-bench-${process.pid}`;
/** One run directory for both nodes, as on one host the uid ranges are the host's. */
const RUN_DIR = `/run/${NAME}`;
const NODE_SECRET = "the bench nodes' shared secret";
const INSTRUCTOR_SECRET = "the bench's instructor secret";
/** A pause before each keystroke: a learner types, the bench does not flood; with it, each
 *  echo meets quiet sockets on every hop, and 500 rounds of both take about 25 s. */
const ECHO_GAP_MS = 20;
/** Between resume rounds: each session is attached to at most once per round, and a session
 *  allows 2 attaches a second past a burst of 10 (lab-session.ts), so no resume is refused. */
const RESUME_ROUND_MS = 500;
const WARMUP_ECHOES = 20;
const START_TIMEOUT_MS = 120_000;
const STOP_GRACE_MS = 30_000;
const SIZE = { cols: 80, rows: 24 };
const PEER_NAME = "the same node, connected directly";

// The budgets. On the direct path a keystroke is handed on three times before its echo is back
// in this client: to B's event loop, through the pty to bash, back to B's event loop. The relay
// adds two more, A's event loop each way, with one more loopback socket (the relay itself only
// parses and re-sends each frame: relay.ts). With every hand-off alike that is 5/3 ≈ 1.7× by
// construction; measured on the shared 2-core machine it came to 1.4–1.6× at the median
// (0.5–0.7 ms added to 1.1–1.4 ms), so a budget of 1.5× would be decided by the machine's load
// from run to run. 2× holds a relay that only copies frames, and fails one that waits for
// something: a coalescing timer, Nagle's algorithm against delayed ACKs (40 ms), back-pressure
// where there is none. The p99 is decided by the machine's stalls, which the relayed path meets
// on A's event loop as well as on B's: 1.0–1.8× measured, 2.5× allowed. Neither figure is a
// delay a person notices (typing feels instant under about 50 ms); the budgets are there to
// catch the relay doing more than it must.
const ECHO_P50_BUDGET = 2;
const ECHO_P99_BUDGET = 2.5;

type Candidate = "direct" | "relayed";

/** A learner with one sandbox on B, and the page now connected to it. */
interface Learner {
  learnerId: string;
  sessionId: string;
  resumeToken: string;
  client: BenchClient;
}

/** The parts of GET /healthz read here. */
const Health = z.object({
  sessions: z.object({ live: z.number(), attached: z.number(), detached: z.number() }),
  cluster: z.object({ node: z.string(), nodes: z.array(z.object({ id: z.string(), gone: z.boolean() })) }),
});
type Health = z.infer<typeof Health>;

async function health(node: LabNodeProcess): Promise<Health> {
  const response = await fetch(`${node.base}/healthz`, { headers: node.operator });
  return Health.parse(await response.json());
}

async function waitUntil(condition: () => boolean | Promise<boolean>, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!(await condition())) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A node as the cluster's test starts one (a port, cgroup parent and data directory of its
 *  own, the run directory and the database shared), with production's settings. The learners'
 *  sandboxes wait for their pages between a close and the resume. */
function startNode(id: string, databaseUrl: string): Promise<LabNodeProcess> {
  const shared = { namePrefix: NAME, runDir: RUN_DIR, nodeSecret: NODE_SECRET, instructorSecret: INSTRUCTOR_SECRET } as const;
  return startLabNodeProcess({ ...shared, id, databaseUrl, maxSessions: 4, reconnectGraceS: 60, logLevel: "warn", nodeEnv: "production", startTimeoutMs: START_TIMEOUT_MS });
}

/** A node's processes: in its session cgroups or its helpers' cgroup, or a launcher naming
 *  one of its session cgroups (before it moved the sandbox in). Not the run directory: both
 *  nodes' launchers name that one. */
function processesOfNode(node: LabNodeProcess): number[] {
  const named = `${node.cgroupParent}/`;
  return [...new Set([...processesOf(node.cgroupParent, named), ...processesOf(`${node.cgroupParent}-helpers`, named)])];
}

/**
 * Both nodes stopped at once (stopped one after the other, the second's sessions would still
 * be running while the first's were checked), then what is left of each: session cgroups under
 * its parent, its processes, and any process that ran below it and still does. Removing what
 * they left is cleanUp()'s.
 */
async function stopNodes(nodes: readonly LabNodeProcess[]): Promise<Record<string, Leftovers>> {
  const below = nodes.map((node) => descendantsOf(node.child.pid ?? 0));
  // SIGTERM, as the cluster's nodes are stopped, and SIGKILL if one is still there after
  // STOP_GRACE_MS.
  const stopped = await Promise.all(nodes.map((node) => terminate(node.child, STOP_GRACE_MS)));
  const leftovers: Record<string, Leftovers> = {};
  nodes.forEach((node, i) => {
    const pids = new Set([...processesOfNode(node), ...stillRunning(below[i]!)]);
    leftovers[node.id] = { ...stopped[i]!, cgroupDirs: cgroupParentDirs(node.cgroupParent).flatMap(childDirs), pids: [...pids] };
  });
  return leftovers;
}

/** What a node left goes as the next start of a node would remove it (its owner is gone), as
 *  the cluster's test does: SandboxHost.cleanupLeftovers for its cgroup parent, then the
 *  parents themselves, the helpers' cgroups beside them, the data directory; last the run
 *  directory they shared. */
async function cleanUp(nodes: readonly LabNodeProcess[]): Promise<void> {
  for (const node of nodes) {
    for (const pid of processesOfNode(node)) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // gone already
      }
    }
    const found = hostCgroupDriver(node.cgroupParent);
    if ("driver" in found && fs.existsSync(path.join(RUN_DIR, "sessions"))) {
      const host = new SandboxHost(found.driver, testHostOptions(RUN_DIR));
      await host.cleanupLeftovers();
      await host.close();
    }
    await removeTrees(cgroupParentDirs(node.cgroupParent).flatMap((dir) => [dir, `${dir}-helpers`]));
    if (process.env.NSLAB_BENCH_KEEP_LOGS !== "1") fs.rmSync(node.dataDir, { recursive: true, force: true });
  }
  fs.rmSync(RUN_DIR, { recursive: true, force: true });
}

function asLearner(client: BenchClient, ready: SessionReady | null): Learner {
  if (!ready?.resumeToken) throw new Error("session.ready gave the owner no resume token");
  return { learnerId: client.learnerId, sessionId: ready.sessionId, resumeToken: ready.resumeToken, client };
}

/** A learner's sandbox started on `node` (session.start), its prompt shown. */
async function startLearner(node: LabNodeProcess): Promise<Learner> {
  const client = new BenchClient(node.ws, { learnerId: newLearnerId(), lesson: args.lesson });
  // The client counts error frames by code; their sentences say why a start failed.
  const refusals: string[] = [];
  client.ws.on("message", (data, isBinary) => {
    if (isBinary) return;
    const parsed = parseServerMessage((data as Buffer).toString("utf8"));
    if (parsed.ok && parsed.message.type === "error") refusals.push(`${parsed.message.code}: ${parsed.message.message}`);
  });
  await client.start().catch((err: unknown) => {
    throw new Error(`a sandbox's start on ${node.id} failed: ${(err as Error).message}${refusals.length ? ` (${refusals.join("; ")})` : ""}`);
  });
  return asLearner(client, client.ready);
}

/**
 * The learner's page closes, and a new one comes back through `node` with session.resume: the
 * time from opening its socket to session.ready (what connect.ts counts from, too). Resolves
 * once the terminal's replay has been read, so that the next echo is not met by it.
 */
async function resume(learner: Learner, node: LabNodeProcess, owner: LabNodeProcess): Promise<number> {
  learner.client.close();
  await learner.client.closed();
  // Until B counts the session as waiting for its page: the new page finds it detached, not
  // about to be, whichever way the old one closed (A's side of a relay closes B's after it).
  await waitUntil(async () => (await health(owner)).sessions.detached === 1, "the owner to see the page gone");
  const t0 = performance.now();
  const client = new BenchClient(node.ws, { learnerId: learner.learnerId });
  let readyAt = Number.NaN;
  const message: ClientMessage = { type: "session.resume", version: PROTOCOL_VERSION, sessionId: learner.sessionId, token: learner.resumeToken, size: SIZE };
  // After the client's own listeners: the socket is open, and a session.ready is parsed.
  client.ws.once("open", () => client.sendJson(message));
  client.ws.on("message", () => {
    if (Number.isNaN(readyAt) && client.ready) readyAt = performance.now();
  });
  await waitUntil(
    () => {
      if (client.closeCode !== null) throw new Error(`the resume's socket closed (${client.closeCode}); errors ${JSON.stringify([...client.errors])}`);
      if (client.errors.size > 0) throw new Error(`the resume was answered with ${JSON.stringify([...client.errors])}`);
      return client.ready !== null && client.outputBytes >= client.ready.replayBytes;
    },
    "session.ready and the replay",
    30_000,
  );
  const ready = client.ready;
  if (ready?.sessionId !== learner.sessionId || !ready.resumed || ready.role !== "owner") {
    throw new Error(`the resume gave ${JSON.stringify({ sessionId: ready?.sessionId, resumed: ready?.resumed, role: ready?.role })}, not the learner's sandbox as its owner`);
  }
  Object.assign(learner, asLearner(client, ready));
  return readyAt - t0;
}

async function measure(a: LabNodeProcess, b: LabNodeProcess): Promise<Omit<BenchResult, "takenAt">> {
  await waitUntil(async () => (await health(a)).cluster.nodes.some((n) => n.id === b.id && !n.gone), `node A to see node B in the cluster`);

  // X on B, directly; Y started on B, then resumed through A (relayed to B).
  const x = await startLearner(b);
  const y = await startLearner(b);
  const warmupResumeMs = await resume(y, a, b);
  const learners: Record<Candidate, Learner> = { direct: x, relayed: y };
  const through: Record<Candidate, LabNodeProcess> = { direct: b, relayed: a };
  const onA = (await health(a)).sessions.live;
  const onB = (await health(b)).sessions.live;
  if (onA !== 0 || onB !== 2) throw new Error(`both sandboxes should be on node B, but B has ${onB} and A has ${onA}`);

  const chars = "abcdefghijklmnopqrstuvwxyz";
  let typed = 0;
  const echo = async (name: Candidate) => {
    await sleep(ECHO_GAP_MS);
    return learners[name].client.echo(chars[typed++ % chars.length]!);
  };
  for (let i = 0; i < WARMUP_ECHOES; i++) for (const name of ["direct", "relayed"] as const) await echo(name);
  // Half the rounds each way round, X's page relayed and Y's direct for the second half, so
  // that nothing of one sandbox (its shell, where the kernel runs it) counts for one path.
  const firstHalf = await interleave(Math.ceil(args.rounds / 2), { direct: () => echo("direct"), relayed: () => echo("relayed") });
  await resume(x, a, b);
  await resume(y, b, b);
  [learners.direct, learners.relayed] = [y, x];
  const secondHalf = await interleave(Math.floor(args.rounds / 2), { direct: () => echo("direct"), relayed: () => echo("relayed") });
  const echoMs = { direct: [...firstHalf.direct!, ...secondHalf.direct!], relayed: [...firstHalf.relayed!, ...secondHalf.relayed!] };

  // One of each first, not recorded: the first resume of each path pays for what every later
  // one finds ready (the terminal's snapshot, the relay's code paths).
  const resumeRound = async (name: Candidate) => {
    const started = performance.now();
    const ms = await resume(learners[name], through[name], b);
    await sleep(Math.max(0, RESUME_ROUND_MS / 2 - (performance.now() - started)));
    return ms;
  };
  await interleave(1, { direct: () => resumeRound("direct"), relayed: () => resumeRound("relayed") });
  const resumeMs = await interleave(args.resumeRounds, { direct: () => resumeRound("direct"), relayed: () => resumeRound("relayed") });
  for (const learner of [x, y]) learner.client.close();
  if ((await health(a)).sessions.live !== 0) throw new Error("a sandbox was started on node A: a resume was not relayed");

  const echoes = { direct: summarize(echoMs.direct), relayed: summarize(echoMs.relayed) };
  const resumes = { direct: summarize(resumeMs.direct!), relayed: summarize(resumeMs.relayed!) };
  const ms = (v: number) => `${v.toFixed(2)} ms`;
  return {
    name: "cluster",
    figures: [
      figure({
        name: "keystroke → echo, relayed by another node",
        unit: "ms",
        stat: "p50",
        nslab: echoes.relayed.p50,
        peerName: PEER_NAME,
        peer: echoes.direct.p50,
        budget: ECHO_P50_BUDGET,
        detail: `${args.rounds} keystrokes per path, interleaved, one every ${ECHO_GAP_MS} ms; two sandboxes on node B, one's page on B, the other's on A, swapped halfway; the relay adds ${ms(echoes.relayed.p50 - echoes.direct.p50)} at the median`,
      }),
      figure({
        name: "keystroke → echo, relayed by another node",
        unit: "ms",
        stat: "p99",
        nslab: echoes.relayed.p99,
        peerName: PEER_NAME,
        peer: echoes.direct.p99,
        budget: ECHO_P99_BUDGET,
        detail: `slowest echo: relayed ${ms(echoes.relayed.max)}, direct ${ms(echoes.direct.max)}`,
      }),
      figure({
        name: "reconnect (session.resume) → session.ready, relayed by another node",
        unit: "ms",
        stat: "p50",
        nslab: resumes.relayed.p50,
        peerName: PEER_NAME,
        peer: resumes.direct.p50,
        budget: null,
        detail: `${args.resumeRounds} rounds, interleaved, from opening the socket; relayed, the node first looks the session's owner up in PostgreSQL and opens a socket to it; p99 ${ms(resumes.relayed.p99)} vs ${ms(resumes.direct.p99)}`,
      }),
    ],
    extra: {
      machine: describeMachine(),
      settings: { ...args, echoGapMs: ECHO_GAP_MS, resumeRoundMs: RESUME_ROUND_MS },
      echoMs: echoes,
      resumeMs: resumes,
      warmupResumeMs,
      notes: [
        "Two nodes on one machine sharing a throwaway PostgreSQL; the relayed page's frames cross A's event loop and one more loopback socket each way. Between machines, the network's round trip between the nodes comes on top of this.",
      ],
    },
  };
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) {
    process.stderr.write("bench/cluster.ts needs root: its nodes start real sandboxes.\n");
    process.exit(1);
  }
  let postgres: PgCluster | null = null;
  const nodes: LabNodeProcess[] = [];
  let leftovers: Record<string, Leftovers> = {};
  let result: Omit<BenchResult, "takenAt">;
  try {
    postgres = await startPgCluster();
    const databaseUrl = await postgres.createDatabase();
    // Both at once, as a cluster's nodes come up (the migrations run once: cluster.test.ts).
    const started = await Promise.allSettled([startNode("bench-a", databaseUrl), startNode("bench-b", databaseUrl)]);
    for (const s of started) if (s.status === "fulfilled") nodes.push(s.value);
    const failed = started.find((s): s is PromiseRejectedResult => s.status === "rejected");
    if (failed) throw failed.reason;
    const [a, b] = nodes as [LabNodeProcess, LabNodeProcess];
    result = await measure(a, b).catch((err: unknown) => {
      // The nodes' logs go with their data directories: what they said is kept with the error.
      const logs = nodes.map((node) => `\n${node.id}'s log (the end):\n${node.logTail() || "(empty)"}`).join("");
      throw Object.assign(err as Error, { message: `${(err as Error).message}${logs}`, stack: `${(err as Error).stack ?? ""}${logs}` });
    });
  } finally {
    leftovers = await stopNodes(nodes);
    await cleanUp(nodes);
    await postgres?.stop();
    reportLeftovers(leftovers);
  }
  writeResult({ ...result, extra: { ...result.extra, leftovers } });
}

main().catch((err: unknown) => {
  console.error(`bench: ${(err as Error).stack ?? (err as Error).message}`);
  process.exit(1);
});
