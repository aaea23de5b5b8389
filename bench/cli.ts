// `nslab run -- true` as a user runs it, against what the same user would otherwise type: a
// Node program starting (`node -e 0`) plus util-linux unshare with the same namespaces.
//
//   node --import tsx bench/cli.ts [--rounds N] [--quick]
//   (as root; writes bench/results/cli.json)
//
// Measured, interleaved round by round:
//   nslab run   `node bin/nslab.mjs run -- true`, stdin /dev/null and stdout, stderr pipes (no
//               terminal, as in a script or CI job), spawn to exit — the command as it is, however
//               bin/nslab.mjs starts (tsx compiling on the fly, or compiled JavaScript)
//   peer        `node -e 0`, then `unshare -UrpfnmuiC --mount-proc true`, each spawn to exit,
//               summed per round: the cost of a Node CLI plus the cost of the same namespaces
//   help        `node bin/nslab.mjs --help`: the CLI's own start with no sandbox, reported so
//               the rest of `nslab run` (its modules and the sandbox) can be told apart
//
// The unshare flags: `-Urpfnmuic` makes no cgroup namespace (util-linux `-c` is
// --map-current-user; `-C` is --cgroup); the launcher makes one, so the peer does too.
//
// `nslab run` is pointed at a run directory and cgroup parent of this run's own (NSLAB_RUN_DIR,
// NSLAB_CGROUP_PARENT), so a server on this machine is not disturbed and nothing is left behind.
// Those variables only move where its files go; what it does is unchanged.
import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";

import { BENCH_DIR, type Summary, benchArgs, figure, interleave, summarize, writeResult } from "./lib/stats";

const PROJECT_ROOT = path.dirname(BENCH_DIR);
const USAGE = "node --import tsx bench/cli.ts [--rounds 20] [--quick]";
const NSLAB = path.join(PROJECT_ROOT, "bin", "nslab.mjs");
const UNSHARE = ["unshare", "-UrpfnmuiC", "--mount-proc", "true"] as const;
/** Run, not recorded: the first start after a change pays for compiling and caching that a
 *  user's second run does not; its time is kept in `extra` as the cold start. */
const WARMUP_ROUNDS = 1;


/** Milliseconds from spawn to exit, with the standard streams a non-interactive caller gives. */
function timeSpawnToExit(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const [file, ...args] = argv;
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const child = spawn(file!, args, { stdio: ["ignore", "pipe", "pipe"], env, cwd: PROJECT_ROOT });
    let output = "";
    child.stdout.setEncoding("utf8").on("data", (text: string) => (output += text));
    child.stderr.setEncoding("utf8").on("data", (text: string) => (output += text));
    child.on("error", reject);
    child.on("exit", (code, signal) => {
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      if (code === 0) resolve(ms);
      else reject(new Error(`${argv.join(" ")} exited ${signal ?? code}: ${output.trim().slice(-400)}`));
    });
  });
}

async function main(): Promise<void> {
  const { rounds } = benchArgs(process.argv.slice(2), USAGE, { rounds: 20 }, { rounds: 5 });
  if (!Number.isInteger(rounds) || rounds < 1) throw new Error("--rounds must be a whole number of at least 1");
  if (process.getuid?.() !== 0) throw new Error("run as root: nslab run needs cgroups, uid ranges and mounts");
  const runDir = `/run/nslab-bench-${process.pid}`;
  const cgroupParent = `/nslab-bench-${process.pid}`;
  const runEnv = { ...process.env, NSLAB_RUN_DIR: runDir, NSLAB_CGROUP_PARENT: cgroupParent };
  const node = process.execPath;

  const candidates = {
    nslabRun: () => timeSpawnToExit([node, NSLAB, "run", "--", "true"], runEnv),
    peer: async () => (await timeSpawnToExit([node, "-e", "0"])) + (await timeSpawnToExit(UNSHARE)),
    help: () => timeSpawnToExit([node, NSLAB, "--help"], runEnv),
  };
  try {
    const cold = await interleave(WARMUP_ROUNDS, candidates);
    const t = Date.now();
    const samples = await interleave(rounds, candidates);
    // The peer's two parts alone, after the interleaved rounds: for the breakdown only.
    const parts = await interleave(rounds, { node: () => timeSpawnToExit([node, "-e", "0"]), unshare: () => timeSpawnToExit(UNSHARE) });
    const wallS = (Date.now() - t) / 1000;
    const s = Object.fromEntries(Object.entries(samples).map(([k, v]) => [k, summarize(v)])) as Record<keyof typeof candidates, Summary>;
    const p = { node: summarize(parts.node!), unshare: summarize(parts.unshare!) };
    const spread = (x: Summary) => `p90 ${x.p90.toFixed(1)} ms, min ${x.min.toFixed(1)}, max ${x.max.toFixed(1)}`;
    writeResult({
      name: "cli",
      figures: [
        figure({
          name: "`nslab run -- true`, spawn to exit (no terminal)",
          unit: "ms", stat: "p50", nslab: s.nslabRun.p50, peerName: "node -e 0 + unshare", peer: s.peer.p50, budget: 1.5,
          detail: `${rounds} rounds interleaved; nslab run ${spread(s.nslabRun)}; peer (\`node -e 0\` then \`${UNSHARE.join(" ")}\`, summed per round) ${spread(s.peer)}; of the peer, node p50 ${p.node.p50.toFixed(1)} ms and unshare p50 ${p.unshare.p50.toFixed(1)} ms.`,
        }),
        figure({
          name: "`nslab --help`: the CLI's start, no sandbox (reported)",
          unit: "ms", stat: "p50", nslab: s.help.p50, peerName: "node -e 0", peer: p.node.p50, budget: null,
          detail: `How much of \`nslab run\` is the CLI starting at all: ${spread(s.help)}. The rest of \`nslab run\` (p50 ${(s.nslabRun.p50 - s.help.p50).toFixed(1)} ms more) is loading the server's sandbox modules and the sandbox itself.`,
        }),
      ],
      extra: {
        rounds,
        warmupRounds: WARMUP_ROUNDS,
        wallSeconds: wallS,
        commands: { nslabRun: "node bin/nslab.mjs run -- true", peer: `node -e 0; ${UNSHARE.join(" ")}`, help: "node bin/nslab.mjs --help" },
        spawnToExitMs: { ...s, node: p.node, unshare: p.unshare },
        coldStartMs: Object.fromEntries(Object.entries(cold).map(([k, v]) => [k, v[0]])),
        notes: [
          `The first, unrecorded round (cold caches): nslab run ${cold.nslabRun![0]!.toFixed(1)} ms, peer ${cold.peer![0]!.toFixed(1)} ms.`,
        ],
      },
    });
  } finally {
    await removeRunLeftovers(runDir, cgroupParent);
  }
}

/** This run's own run directory and cgroup parents: every `nslab run` removed its session's
 *  cgroup and directory as it ended, so only the empty parents are left. */
async function removeRunLeftovers(runDir: string, cgroupParent: string): Promise<void> {
  fs.rmSync(runDir, { recursive: true, force: true });
  const { hostCgroupLayout } = await import("../server/sandbox/cgroup");
  const layout = hostCgroupLayout();
  const mountPoints = layout.version === 1 ? layout.hierarchies.map((h) => h.mountPoint) : layout.version === 2 ? [layout.mountPoint] : [];
  for (const mountPoint of mountPoints) {
    const dir = path.join(mountPoint, cgroupParent);
    try {
      fs.rmdirSync(dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") console.error(`bench cli: cannot remove ${dir}: ${(err as Error).message}`);
    }
  }
}

main().catch((err: unknown) => {
  console.error(`bench cli: ${(err as Error).message}`);
  process.exit(1);
});
