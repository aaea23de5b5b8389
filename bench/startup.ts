// Sandbox start-up against its peers, measured in one run on one machine: the figures that
// matter are the ratios, not the milliseconds (these machines are shared and noisy).
//
//   node --import tsx bench/startup.ts [--rounds N] [--quick]
//   (as root; writes bench/results/startup.json)
//
// Measured, interleaved round by round so that load on the machine hits every candidate alike:
//   nslab     a whole nslab sandbox (SandboxHost, stdio "pipes", as `nslab run` makes one):
//             session cgroup with limits, uid range, launcher (namespaces, idmapped image,
//             OverlayFS, pivot_root, seccomp), `true` exec'd — from the start call to the
//             launcher's exit. The teardown after it is timed apart and reported.
//   nslabTerminal      the same as the lab server starts a learner's: in a terminal from its
//             spawner, on a host with the server's options (serverHostOptions), which keeps two
//             sandboxes' cgroups prepared ahead; the budgets are held against this one
//   nslabTerminalCold  the same with none prepared ahead (reported)
//   unshare   util-linux unshare with the same namespaces and a fresh /proc, running `true`
//   bwrap     bubblewrap with every namespace it can unshare, the host root and a fresh /proc
//   true      spawning `true` with no isolation at all: the floor every candidate stands on
//
// Which nslab figure is held to the budget: the peers can only be timed from outside, spawn to
// exit, and that includes their fork, exec, dynamic linking and exit. The launcher's own report
// ("start" → "exec") leaves all of that out, so comparing it with a peer's spawn-to-exit would
// flatter nslab. The budgets therefore compare nslab's spawn-to-exit (what a learner waits for,
// from the server's call to the command's end) with the peers' spawn-to-exit, apples to apples.
// The launcher's start → exec, its start → exit as the server sees it, and its step-by-step
// breakdown are reported beside them, without a budget.
//
// The unshare peer: `unshare -Urpfnmuic` does not make a cgroup namespace — in
// util-linux `-c` is --map-current-user, `-C` is --cgroup — while the launcher makes one. The
// peer is therefore `-UrpfnmuiC`: user, pid, net, mount, uts, ipc and cgroup, exactly the
// launcher's set. The `-c` spelling is timed too and kept in `extra`, to show the difference.
import { spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";

import { BENCH_DIR, type Figure, type Summary, benchArgs, figure, interleave, summarize, writeResult } from "./lib/stats";
import type { Sandbox } from "../server/sandbox/sandbox";

const PROJECT_ROOT = path.dirname(BENCH_DIR);
const USAGE = "node --import tsx bench/startup.ts [--rounds 30] [--quick]";

const LAUNCH_STEPS = ["start", "layer", "clone", "uid-map", "overlay", "cgroup", "identity", "mounts", "uts-net", "pivot-root", "exec"] as const;
/** What each step of the launcher's report covers, from the step before it (launcher.c). */
const STEP_MEANING: Record<(typeof LAUNCH_STEPS)[number], string> = {
  start: "",
  layer: "private mount namespace and the writable layer (the one mounted ahead moved in, or mounted now)",
  clone: "clone into new user, pid, net, uts and ipc namespaces",
  "uid-map": "uid and gid maps written",
  overlay: "idmapped image, OverlayFS root and /sys",
  cgroup: "the child moved into the session's cgroups (the cgroup join)",
  identity: "the child becomes root of its namespace",
  mounts: "cgroup namespace, /proc, cgroupfs, /dev and /tmp inside",
  "uts-net": "hostname and loopback",
  "pivot-root": "pivot_root and the old root detached",
  exec: "bounding set, rlimits, no_new_privs and the seccomp filter",
};

const UNSHARE = ["unshare", "-UrpfnmuiC", "--mount-proc", "true"] as const;
const UNSHARE_LOWER_C = ["unshare", "-Urpfnmuic", "--mount-proc", "true"] as const;
// bwrap(1): --unshare-all is user (if possible), ipc, pid, net, uts and cgroup (if possible); the
// mount namespace is always new. As root it still makes the user namespace (uid 0 mapped to 0).
const BWRAP = ["bwrap", "--unshare-all", "--dev-bind", "/", "/", "--proc", "/proc", "true"] as const;

/** Rounds that are run but not recorded: the first sandbox pays for module loading, JIT and
 *  cold caches once, which no later start in a running server pays again. */
const WARMUP_ROUNDS = 2;


function onPath(program: string): boolean {
  return (process.env.PATH ?? "/usr/bin:/bin").split(":").some((dir) => {
    try {
      fs.accessSync(path.join(dir, program), fs.constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

/** bubblewrap, installed from Debian's archive when it is missing and we are root; otherwise
 *  the reason it is not there, and the bwrap peer is skipped. */
function ensureBwrap(): string | null {
  if (onPath("bwrap")) return null;
  const install = "apt-get update -qq && apt-get install -y -qq bubblewrap";
  if (process.getuid?.() !== 0) return `bwrap is not installed; install it (as root: ${install})`;
  console.log(`bwrap is not installed; installing it: ${install}`);
  const r = spawnSync("sh", ["-c", install], { stdio: "inherit" });
  if (r.status === 0 && onPath("bwrap")) return null;
  return `bwrap is not installed and \`${install}\` failed (status ${r.status}); install bubblewrap and run again`;
}

/** Milliseconds from spawn to the exit event, in this process's event loop, with stdio pipes:
 *  the same way, and through the same loop, that the server sees its launcher exit. */
function timeSpawnToExit(argv: readonly string[]): Promise<number> {
  const [file, ...args] = argv;
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const child = spawn(file!, args, { stdio: ["pipe", "pipe", "pipe"], cwd: "/" });
    let stderr = "";
    child.stderr.setEncoding("utf8").on("data", (text: string) => (stderr += text));
    child.stdout.resume();
    child.stdin.end();
    child.on("error", reject);
    child.on("exit", (code, signal) => {
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      if (code === 0) resolve(ms);
      else reject(new Error(`${argv.join(" ")} exited ${signal ?? code}: ${stderr.trim()}`));
    });
  });
}

async function main(): Promise<void> {
  const { rounds } = benchArgs(process.argv.slice(2), USAGE, { rounds: 30 }, { rounds: 5 });
  if (!Number.isInteger(rounds) || rounds < 1) throw new Error("--rounds must be a whole number of at least 1");
  if (process.getuid?.() !== 0) throw new Error("run as root: the sandbox needs cgroups, uid ranges and mounts");
  // The server's info lines (one per start and exit) would bury the figures; warnings stay.
  process.env.LOG_LEVEL ??= "warn";
  const { loadConfig } = await import("../server/config");
  const { checkHostFeatures, unsupportedReason } = await import("../server/kernel/features");
  const { hostCgroupDriver } = await import("../server/sandbox/cgroup");
  const { SandboxHost, serverHostOptions } = await import("../server/sandbox/host");
  const { DEFAULT_LIMITS } = await import("../server/sandbox/limits");

  // The server's own settings (image, launcher, layer sizes) with a run directory and cgroup
  // parent of this run's own, so a server running on this machine is not disturbed.
  const runDir = `/run/nslab-bench-${process.pid}`;
  const cgroupParent = `/nslab-bench-${process.pid}`;
  const config = loadConfig({ ...process.env, NSLAB_RUN_DIR: runDir, NSLAB_CGROUP_PARENT: cgroupParent }, PROJECT_ROOT);
  const features = checkHostFeatures({ launcher: config.launcherPath, rootfs: config.NSLAB_ROOTFS, cgroupParent: config.NSLAB_CGROUP_PARENT });
  if (!features.ok) throw new Error(unsupportedReason(features));
  const found = hostCgroupDriver(config.NSLAB_CGROUP_PARENT);
  if (!("driver" in found)) throw new Error(found.reason);
  const driver = found.driver;
  const bwrapMissing = ensureBwrap();
  if (bwrapMissing) console.log(`skipping the bubblewrap peer: ${bwrapMissing}`);

  const cleanUp = () => {
    // Only this run's own parents: the session cgroups below them are gone with each sandbox.
    for (const parent of Object.values(driver.parents)) {
      try {
        fs.rmdirSync(parent);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "ENOENT") console.error(`bench: cannot remove ${parent}: ${(err as Error).message}`);
      }
    }
    fs.rmSync(runDir, { recursive: true, force: true });
  };

  const samples = {
    launcherToExec: [] as number[],
    launcherToExit: [] as number[],
    spawnToLauncher: [] as number[],
    execToExit: [] as number[],
    teardown: [] as number[],
    serverPrep: [] as number[],
    launcherSpawn: [] as number[],
    steps: Object.fromEntries(LAUNCH_STEPS.slice(1).map((s) => [s, [] as number[]])) as Record<string, number[]>,
  };
  let recording = false;
  const hosts: Array<InstanceType<typeof SandboxHost>> = [];
  try {
    // As the lab server makes it: its start gate, and the sandboxes it keeps prepared ahead
    // (uid range, session directory, cgroup with limits), so a start finds one ready.
    const made = new SandboxHost(driver, serverHostOptions(config));
    // With none prepared ahead, as `nslab run` starts (and the later starts of a class joining
    // at once): every start makes its own.
    const cold = new SandboxHost(driver, { ...serverHostOptions(config), ready: undefined });
    hosts.push(made, cold);
    // The server's own preparation is timed by wrapping this run's driver object: when its
    // cgroup creation ends, the rest up to the launcher's start is the spawn of the launcher.
    // Only the creations of the start being broken down count (not one prepared ahead).
    let cgroupCreatedAt = 0n;
    let breakingDown = false;
    const create = driver.create.bind(driver);
    driver.create = (...args: Parameters<typeof create>): ReturnType<typeof create> => {
      const creation = create(...args);
      const counted = breakingDown;
      const madeAt = () => {
        if (counted) cgroupCreatedAt = process.hrtime.bigint();
      };
      // Both ways: a failure is the start's to report, not an unhandled rejection here.
      void Promise.resolve(creation).then(madeAt, madeAt);
      return creation;
    };
    const startSandbox = async (): Promise<number> => {
      const t0 = process.hrtime.bigint();
      breakingDown = true;
      const sandbox = await cold.start({ limits: DEFAULT_LIMITS, cols: 80, rows: 24, command: ["/bin/true"], stdio: "pipes" }).finally(() => {
        breakingDown = false;
      });
      sandbox.pipes?.stdout.resume();
      sandbox.pipes?.stderr.resume();
      // The time is taken in the exit listener itself: the sandbox's teardown starts right
      // after its listeners return, and most of it runs in that same synchronous stretch.
      const { info, exitedAt } = await new Promise<{ info: { exitCode: number | null }; exitedAt: bigint }>((resolve) => {
        sandbox.onExit((exitInfo) => resolve({ info: exitInfo, exitedAt: process.hrtime.bigint() }));
      });
      const ms = Number(exitedAt - t0) / 1e6;
      await sandbox.destroy();
      if (info.exitCode !== 0) throw new Error(`the sandbox's true exited ${info.exitCode}`);
      if (!recording) return ms;
      samples.teardown.push(Number(process.hrtime.bigint() - exitedAt) / 1e6);
      const startNs = launcherStartNs(sandbox);
      samples.serverPrep.push(Number(cgroupCreatedAt - t0) / 1e6);
      samples.launcherSpawn.push((startNs - Number(cgroupCreatedAt)) / 1e6);
      return ms;
    };
    // The launcher's clock is CLOCK_MONOTONIC, and so is Node's hrtime on Linux (libuv's
    // uv_hrtime): its report and this process's timestamps share one time axis.
    const launcherStartNs = (sandbox: Sandbox) => Number(sandbox.launchEvents.find((e) => e.step === "start")?.detail ?? Number.NaN);
    // The launcher's steps, as the server runs it (the terminal candidate, prepared ahead).
    const breakDown = (sandbox: Sandbox, t0: bigint, exitedAt: bigint) => {
      const events = sandbox.launchEvents;
      const startNs = launcherStartNs(sandbox);
      const at = (step: string) => (events.find((e) => e.step === step)?.tNs ?? Number.NaN) - startNs;
      samples.launcherToExec.push(at("exec") / 1e6);
      samples.launcherToExit.push((Number(exitedAt) - startNs) / 1e6);
      samples.spawnToLauncher.push((startNs - Number(t0)) / 1e6);
      samples.execToExit.push((Number(exitedAt) - startNs - at("exec")) / 1e6);
      for (let i = 1; i < LAUNCH_STEPS.length; i++) {
        samples.steps[LAUNCH_STEPS[i]!]!.push((at(LAUNCH_STEPS[i]!) - at(LAUNCH_STEPS[i - 1]!)) / 1e6);
      }
    };
    // The same sandbox as the lab server starts a learner's: in a terminal, which the server's
    // spawner (native/spawner.c) forks, so this process never forks itself. Timed from the
    // start call to the exit event, as above.
    const startTerminal = async (host: InstanceType<typeof SandboxHost>): Promise<number> => {
      const t0 = process.hrtime.bigint();
      const sandbox = await host.start({ limits: DEFAULT_LIMITS, cols: 80, rows: 24, command: ["/bin/true"] });
      sandbox.onData(() => undefined);
      const exitedAt = await new Promise<bigint>((resolve) => sandbox.onExit(() => resolve(process.hrtime.bigint())));
      await sandbox.destroy();
      if (recording && host === made) breakDown(sandbox, t0, exitedAt);
      // Untimed: the server makes the next one while no start waits; here it is let finish
      // before the next candidate runs, so that no candidate is timed beside that work.
      const want = serverHostOptions(config).ready?.count ?? 0;
      for (let i = 0; i < 2500 && host.starts.ready < want && host === made; i++) await new Promise((r) => setTimeout(r, 2));
      return Number(exitedAt - t0) / 1e6;
    };
    const candidates: Record<string, () => Promise<number>> = {
      nslab: startSandbox,
      nslabTerminal: () => startTerminal(made),
      nslabTerminalCold: () => startTerminal(cold),
      unshare: () => timeSpawnToExit(UNSHARE),
      unshareLowerC: () => timeSpawnToExit(UNSHARE_LOWER_C),
      true: () => timeSpawnToExit(["true"]),
    };
    if (!bwrapMissing) candidates.bwrap = () => timeSpawnToExit(BWRAP);

    await interleave(WARMUP_ROUNDS, candidates);
    recording = true;
    const t = Date.now();
    const spawnToExit = await interleave(rounds, candidates);
    const wallS = (Date.now() - t) / 1000;
    report(rounds, wallS, spawnToExit, samples, bwrapMissing, driver.version, serverHostOptions(config).ready?.count ?? 0);
  } finally {
    // The spawners sit in this run's cpu parent (SandboxHost.adoptSpawner) until they exit.
    for (const host of hosts) await host.close();
    cleanUp();
  }
}

function report(
  rounds: number,
  wallS: number,
  spawnToExit: Record<string, number[]>,
  samples: Record<"launcherToExec" | "launcherToExit" | "spawnToLauncher" | "execToExit" | "teardown" | "serverPrep" | "launcherSpawn", number[]> & { steps: Record<string, number[]> },
  bwrapMissing: string | null,
  cgroupVersion: 1 | 2,
  /** Sandboxes the lab server keeps prepared ahead. */
  readyCount: number,
): void {
  const s = Object.fromEntries(Object.entries(spawnToExit).map(([k, v]) => [k, summarize(v)])) as Record<string, Summary>;
  const nslab = s.nslab!;
  const unshare = s.unshare!;
  const steps = Object.fromEntries(Object.entries(samples.steps).map(([k, v]) => [k, summarize(v)]));
  const launcherToExec = summarize(samples.launcherToExec);
  const cgroupJoin = steps.cgroup!;
  const withoutJoin = summarize(samples.launcherToExec.map((v, i) => v - samples.steps.cgroup![i]!));
  const spread = (x: Summary) => `p90 ${x.p90.toFixed(2)} ms, min ${x.min.toFixed(2)}, max ${x.max.toFixed(2)}`;
  const unshareCmd = UNSHARE.join(" ");

  const terminal = s.nslabTerminal!;
  const figures: Figure[] = [
    figure({
      name: "sandbox start → exit of `true`, as the lab server starts a learner's terminal",
      unit: "ms", stat: "p50", nslab: terminal.p50, peerName: "util-linux unshare", peer: unshare.p50, budget: 1.0,
      detail: `${rounds} rounds interleaved; nslab ${spread(terminal)}; peer \`${unshareCmd}\` ${spread(unshare)}. Timed from the start call to the exit event in the same Node process. nslab includes the server's own work (uid range, session directory, session cgroup with limits and the writable layer's image, mounted by the spawner, which the server prepares ahead while no start waits, as it keeps ${readyCount} ready) and a terminal forked by its spawner; the peer makes no cgroup and no overlay.`,
    }),
    figure({
      name: "sandbox start → exit of `true`, a learner's terminal with none prepared ahead (reported)",
      unit: "ms", stat: "p50", nslab: s.nslabTerminalCold!.p50, peerName: "util-linux unshare", peer: unshare.p50, budget: null,
      detail: `nslab ${spread(s.nslabTerminalCold!)}: the uid range, session directory and cgroup made during the start, as for the later starts of a class joining at once (the server then starts them one after another, half the CPUs at a time).`,
    }),
  ];
  if (s.bwrap) {
    figures.push(figure({
      name: "sandbox start → exit of `true`, a learner's terminal, vs bubblewrap",
      unit: "ms", stat: "p50", nslab: terminal.p50, peerName: "bubblewrap", peer: s.bwrap.p50, budget: 0.8,
      detail: `peer \`${BWRAP.join(" ")}\` ${spread(s.bwrap)}.`,
    }));
  }
  figures.push(figure({
    name: "sandbox start → exit of `true` with stdio pipes (`nslab run`'s way: this process forks the launcher)",
    unit: "ms", stat: "p50", nslab: nslab.p50, peerName: "util-linux unshare", peer: unshare.p50, budget: null,
    detail: `nslab ${spread(nslab)}: the same sandbox, launched with child_process.spawn as \`nslab run\` without a terminal does, and none prepared ahead: the server's preparation below is timed on this one.`,
  }));
  figures.push(
    figure({
      name: "launcher start → exec of `true`, as the server runs it",
      unit: "ms", stat: "p50", nslab: launcherToExec.p50, peerName: "util-linux unshare", peer: unshare.p50, budget: null,
      detail: `From the launcher's report (its start → its exec step), ${spread(launcherToExec)}. Not apples to apples: the peer's figure also holds its fork, exec and exit. Of it, the cgroup join takes p50 ${cgroupJoin.p50.toFixed(2)} ms (${spread(cgroupJoin)}).`,
    }),
    figure({
      name: "launcher start → exec, without the cgroup join",
      unit: "ms", stat: "p50", nslab: withoutJoin.p50, peerName: "util-linux unshare", peer: unshare.p50, budget: null,
      detail: `What the launcher would take if moving the sandbox into its cgroups were free (cgroup v2's clone3 CLONE_INTO_CGROUP); ${spread(withoutJoin)}.`,
    }),
    figure({
      name: "launcher start → exit of `true`, as the server sees it",
      unit: "ms", stat: "p50", nslab: summarize(samples.launcherToExit).p50, peerName: "util-linux unshare", peer: unshare.p50, budget: null,
      detail: `The launcher's start (its report) to the exit event in the server. Before the launcher starts: p50 ${summarize(samples.spawnToLauncher).p50.toFixed(2)} ms from the start call (a sandbox prepared ahead taken, the spawner's fork and exec of the launcher); with none prepared ahead and stdio pipes, the server's preparation until the session cgroup is made took p50 ${summarize(samples.serverPrep).p50.toFixed(2)} ms, then the launcher's spawn p50 ${summarize(samples.launcherSpawn).p50.toFixed(2)} ms. After its exec step: p50 ${summarize(samples.execToExit).p50.toFixed(2)} ms for \`true\` to run and exit, the sandbox's namespaces to go, the launcher to reap it and exit, and the server to see that.`,
    }),
    figure({
      name: "sandbox teardown after `true` exited (reported)",
      unit: "ms", stat: "p50", nslab: summarize(samples.teardown).p50, peerName: null, peer: null, budget: null,
      detail: `destroy(): processes checked gone, session cgroups removed, session directory and uid range freed; ${spread(summarize(samples.teardown))}. Not part of the start figures: the learner is not waiting for it.`,
    }),
  );
  writeResult({
    name: "startup",
    figures,
    extra: {
      rounds,
      warmupRounds: WARMUP_ROUNDS,
      wallSeconds: wallS,
      cgroupVersion,
      commands: { unshare: UNSHARE.join(" "), unshareLowerC: UNSHARE_LOWER_C.join(" "), bwrap: bwrapMissing ? null : BWRAP.join(" "), true: "true" },
      spawnToExitMs: s,
      launcherMs: {
        startToExec: launcherToExec,
        startToExit: summarize(samples.launcherToExit),
        spawnToLauncherStart: summarize(samples.spawnToLauncher),
        // Of that: the start call until the session cgroup is made (uid range, session
        // directory and cgroup side by side), then until the launcher's main() runs.
        serverPrep: summarize(samples.serverPrep),
        cgroupMadeToLauncherStart: summarize(samples.launcherSpawn),
        execToExitSeen: summarize(samples.execToExit),
        teardown: summarize(samples.teardown),
      },
      // Each step's time since the step before it, with what happens in it.
      launcherStepsMs: Object.fromEntries(Object.entries(steps).map(([step, summary]) => [step, { ...summary, covers: STEP_MEANING[step as (typeof LAUNCH_STEPS)[number]] }])),
      notes: [
        `The unshare peer is \`${unshareCmd}\` (-C: a cgroup namespace, as the launcher makes); the \`-c\` spelling \`${UNSHARE_LOWER_C.join(" ")}\` (-c maps the current user and makes no cgroup namespace) took p50 ${s.unshareLowerC!.p50.toFixed(2)} ms against ${unshare.p50.toFixed(2)} ms.`,
        `Spawning \`true\` with no isolation, the floor under every spawn-to-exit figure: p50 ${s.true!.p50.toFixed(2)} ms.`,
        ...(bwrapMissing ? [`bubblewrap peer skipped: ${bwrapMissing}`] : []),
      ],
    },
  });
}

main().catch((err: unknown) => {
  console.error(`bench startup: ${(err as Error).message}`);
  process.exit(1);
});
