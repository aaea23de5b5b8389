// Sandbox start-up against its peers, measured in one run on one machine: the figures that
// matter are the ratios, not the milliseconds (these machines are shared and noisy).
//
//   node --import tsx bench/startup.ts [ROUNDS]      (as root; writes bench/results/startup.json)
//
// Measured, interleaved round by round so that load on the machine hits every candidate alike:
//   true         spawning `true` with no isolation at all (the floor)
//   unshare      util-linux unshare with user, pid, net, mount, uts, ipc and cgroup namespaces
//                and a fresh /proc, running `true`
//   nslab        a whole nslab sandbox as the server makes one: session cgroup with limits,
//                uid range, launcher (namespaces, idmapped image, OverlayFS, pivot_root,
//                seccomp), `true` exec'd, then torn down — start call to exit
//   launcher     the launcher's own report for the same sandbox: its start to the exec step
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";

import { hostCgroupDriver } from "../server/sandbox/cgroup";
import { SandboxHost } from "../server/sandbox/host";
import { DEFAULT_LIMITS } from "../server/sandbox/limits";
import { LAUNCHER, PROJECT_ROOT, ROOTFS } from "../server/testing/kernel";

const rounds = Number(process.argv[2] ?? 30);
const RUN_DIR = `/run/nslab-bench-${process.pid}`;

function timeSpawn(cmd: string, args: string[]): number {
  const t = process.hrtime.bigint();
  const r = spawnSync(cmd, args, { stdio: "ignore" });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")} exited ${r.status}`);
  return Number(process.hrtime.bigint() - t) / 1e6;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? NaN;
}

async function main(): Promise<void> {
  const found = hostCgroupDriver(`/nslab-bench-${process.pid}`);
  if (!("driver" in found)) throw new Error(found.reason);
  const host = new SandboxHost(found.driver, {
    launcherPath: LAUNCHER, rootfs: ROOTFS, runDir: RUN_DIR,
    layerBytes: 64 << 20, layerInodes: 16384, tmpBytes: 16 << 20,
  });
  const samples: Record<string, number[]> = { true: [], unshare: [], nslab: [], launcher: [], launcherCgroupJoin: [] };
  for (let i = 0; i < rounds; i++) {
    samples.true!.push(timeSpawn("true", []));
    samples.unshare!.push(timeSpawn("unshare", ["-Urpfnmuic", "--mount-proc", "true"]));
    const t = process.hrtime.bigint();
    const sandbox = await host.start({ limits: DEFAULT_LIMITS, cols: 80, rows: 24, command: ["/bin/true"], stdio: "pipes" });
    await new Promise<void>((resolve) => sandbox.onExit(() => resolve()));
    samples.nslab!.push(Number(process.hrtime.bigint() - t) / 1e6);
    const events = sandbox.launchEvents;
    const start = Number(events.find((e) => e.step === "start")?.detail);
    const at = (step: string) => ((events.find((e) => e.step === step)?.tNs ?? NaN) - start) / 1e6;
    samples.launcher!.push(at("exec"));
    samples.launcherCgroupJoin!.push(at("cgroup") - at("overlay"));
    await sandbox.destroy();
  }
  for (const parent of Object.values(found.driver.parents)) if (fs.existsSync(parent)) fs.rmdirSync(parent);
  fs.rmSync(RUN_DIR, { recursive: true, force: true });

  const medians = Object.fromEntries(Object.entries(samples).map(([k, v]) => [k, median(v)]));
  const result = {
    takenAt: new Date().toISOString(),
    rounds,
    kernel: fs.readFileSync("/proc/sys/kernel/osrelease", "utf8").trim(),
    cgroupVersion: found.driver.version,
    medianMs: medians,
    ratios: {
      "launcher / unshare": medians.launcher! / medians.unshare!,
      "launcher without the cgroup join / unshare": (medians.launcher! - medians.launcherCgroupJoin!) / medians.unshare!,
      "whole nslab sandbox / unshare": medians.nslab! / medians.unshare!,
    },
  };
  const out = path.join(PROJECT_ROOT, "bench", "results", "startup.json");
  fs.writeFileSync(out, `${JSON.stringify(result, null, 2)}\n`);
  console.log(JSON.stringify(result, null, 2));
}

main().catch((err: unknown) => {
  console.error(`bench: ${(err as Error).message}`);
  process.exit(1);
});
