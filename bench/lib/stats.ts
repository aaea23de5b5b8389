// What every benchmark reports: percentiles of its samples, and the ratio to a peer measured in
// the same run. Absolute times on a shared machine move from run to run; ratios of candidates
// measured side by side, interleaved, are what hold.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

export const BENCH_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
export const RESULTS_DIR = path.join(BENCH_DIR, "results");

export interface Summary {
  n: number;
  p50: number;
  p90: number;
  p99: number;
  min: number;
  max: number;
  mean: number;
}

/** The value at fraction `q` (0..1) of the sorted samples: nearest rank, so it is a sample. */
export function percentile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[rank]!;
}

export function summarize(samples: readonly number[]): Summary {
  const sorted = [...samples].filter(Number.isFinite).sort((a, b) => a - b);
  const sum = sorted.reduce((a, b) => a + b, 0);
  return {
    n: sorted.length,
    p50: percentile(sorted, 0.5),
    p90: percentile(sorted, 0.9),
    p99: percentile(sorted, 0.99),
    min: sorted[0] ?? Number.NaN,
    max: sorted.at(-1) ?? Number.NaN,
    mean: sorted.length ? sum / sorted.length : Number.NaN,
  };
}

/** One row of bench/RESULTS.md: a figure for nslab, the same figure for its peer, the ratio
 *  and the budget it is held to (a ratio too; null where none is set). */
export interface Figure {
  /** What is measured, e.g. "connect → first prompt byte, 20 at once". */
  name: string;
  /** The unit of `nslab` and `peer`: "ms", "% of a core", "MiB". */
  unit: string;
  /** Which statistic the ratio compares: "p50", "p99", "value". */
  stat: string;
  nslab: number;
  /** Who the peer is, e.g. "util-linux unshare", "bare ws + node-pty server". */
  peerName: string | null;
  peer: number | null;
  /** nslab / peer, or for a budget without a peer nslab / budgetBase. */
  ratio: number | null;
  /** The largest ratio (or, with unit-only budgets, value) allowed; null: reported only. */
  budget: number | null;
  /** Free text: samples, what else was going on. */
  detail?: string;
}

export function figure(f: Omit<Figure, "ratio"> & { ratio?: number | null }): Figure {
  const ratio = f.ratio !== undefined ? f.ratio : f.peer ? f.nslab / f.peer : null;
  return { ...f, ratio };
}

export function withinBudget(f: Figure): boolean | null {
  if (f.budget === null) return null;
  const measured = f.ratio ?? f.nslab;
  return measured <= f.budget;
}

/** One benchmark script's results, written to bench/results/<name>.json. */
export interface BenchResult {
  name: string;
  takenAt: string;
  figures: Figure[];
  /** Anything the script wants kept beside the figures (raw summaries, settings). */
  extra?: Record<string, unknown>;
}

export function writeResult(result: Omit<BenchResult, "takenAt">): string {
  fs.mkdirSync(RESULTS_DIR, { recursive: true });
  const out = path.join(RESULTS_DIR, `${result.name}.json`);
  const full: BenchResult = { takenAt: new Date().toISOString(), ...result };
  fs.writeFileSync(out, `${JSON.stringify(full, null, 2)}\n`);
  for (const f of result.figures) console.log(formatFigure(f));
  return out;
}

export function formatNumber(value: number | null, digits = 2): string {
  if (value === null || !Number.isFinite(value)) return "—";
  if (Math.abs(value) >= 100) return value.toFixed(0);
  return value.toFixed(digits);
}

export function formatFigure(f: Figure): string {
  const verdict = withinBudget(f);
  const budget = f.budget === null ? "" : ` (budget ${f.budget}×: ${verdict ? "within" : "MISSED"})`;
  const peer = f.peer === null ? "" : ` vs ${f.peerName} ${formatNumber(f.peer)} ${f.unit}`;
  const ratio = f.ratio === null ? "" : ` = ${formatNumber(f.ratio)}×`;
  return `${f.name}: ${f.stat} ${formatNumber(f.nslab)} ${f.unit}${peer}${ratio}${budget}`;
}

/** The machine a run was taken on, for RESULTS.md. */
export function describeMachine(): Record<string, string> {
  const cpus = os.cpus();
  let cgroup = "v1";
  try {
    if (fs.readFileSync("/sys/fs/cgroup/cgroup.controllers", "utf8").trim()) cgroup = "v2";
  } catch {
    // no unified hierarchy at /sys/fs/cgroup
  }
  return {
    kernel: os.release(),
    cpus: `${cpus.length} × ${cpus[0]?.model ?? "unknown"}`,
    memory: `${(os.totalmem() / 2 ** 30).toFixed(1)} GiB`,
    node: process.version,
    cgroup,
    load: os.loadavg().map((l) => l.toFixed(2)).join(" "),
  };
}

/** Run each candidate once per round, in an order that changes every round, so that load on a
 *  shared machine falls on every candidate alike. */
export async function interleave(rounds: number, candidates: Record<string, () => Promise<number> | number>): Promise<Record<string, number[]>> {
  const names = Object.keys(candidates);
  const samples: Record<string, number[]> = Object.fromEntries(names.map((n) => [n, []]));
  for (let round = 0; round < rounds; round++) {
    const order = names.map((_, i) => names[(i + round) % names.length]!);
    for (const name of order) samples[name]!.push(await candidates[name]!());
  }
  return samples;
}

/** CPU time (user + system) a process has used so far, in milliseconds, from /proc/<pid>/stat. */
export function processCpuMs(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
  // The command name is in parentheses and may hold spaces; the fields follow the last ")".
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const ticks = Number(fields[11]) + Number(fields[12]);
  return (ticks * 1000) / CLOCK_TICKS_PER_SECOND;
}

/** USER_HZ: 100 on every Linux architecture nslab runs on (sysconf(_SC_CLK_TCK)). */
const CLOCK_TICKS_PER_SECOND = 100;

/** Resident memory of a process in bytes, from /proc/<pid>/status (VmRSS). */
export function processRssBytes(pid: number): number {
  const status = fs.readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = Number(/^VmRSS:\s+(\d+) kB$/m.exec(status)?.[1] ?? Number.NaN);
  return kb * 1024;
}

/** Memory the host could still give out, in bytes (MemAvailable). */
export function hostAvailableBytes(): number {
  const meminfo = fs.readFileSync("/proc/meminfo", "utf8");
  return Number(/^MemAvailable:\s+(\d+) kB$/m.exec(meminfo)?.[1] ?? Number.NaN) * 1024;
}

/**
 * A bench script's command line: `--some-size 20` (or `--some-size=20`) for each key of
 * `defaults` (`someSize`), numbers where the default is a number, and `--quick` for the sizes
 * in `quick` (a check that the script runs, not a measurement; options given after it win).
 * Anything else stops the script with its usage line.
 */
export function benchArgs<T extends Record<string, number | string>>(argv: readonly string[], usage: string, defaults: T, quick: Partial<T>): T {
  const options: Record<string, number | string> = { ...defaults };
  const fail = (why: string): never => {
    process.stderr.write(`${why}\nusage: ${usage}\n`);
    process.exit(2);
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === "--quick") {
      Object.assign(options, quick);
      continue;
    }
    if (arg === "--help" || arg === "-h") {
      process.stdout.write(`usage: ${usage}\n`);
      process.exit(0);
    }
    const m = /^--([a-z][a-z0-9-]*)(?:=(.*))?$/.exec(arg);
    const key = m?.[1]?.replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase());
    if (!m || key === undefined || !(key in defaults)) fail(`unknown argument ${arg}`);
    const text = m?.[2] ?? argv[++i];
    if (text === undefined) fail(`${arg} needs a value`);
    if (typeof defaults[key!] === "number") {
      const value = Number(text);
      if (!Number.isFinite(value) || value < 0) fail(`${arg} needs a number ≥ 0, not ${JSON.stringify(text)}`);
      options[key!] = value;
    } else {
      options[key!] = text!;
    }
  }
  return options as T;
}
