// `npm run bench`: every benchmark in turn, each as a child process of its own (no benchmark's
// sandboxes, servers or heap share an event loop with the next), then one summary of all their
// results in bench/RESULTS.md, overwritten by every run, and the same table on stdout.
//
//   npm run bench                 (as root)
//   npm run bench -- --quick      smaller sizes: a check that everything runs, not a measurement
//
// A script that does not exist yet is skipped with a word; one that fails is recorded as failed
// and the rest still run. RESULTS.md is built from every bench/results/*.json there is, so a
// result left from an earlier run is shown too, marked with the time it was taken.
import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";

import { z } from "zod";

import { BENCH_DIR, type BenchResult, type Figure, RESULTS_DIR, describeMachine, formatNumber, withinBudget } from "./lib/stats";

const PROJECT_ROOT = path.dirname(BENCH_DIR);
const RESULTS_MD = path.join(BENCH_DIR, "RESULTS.md");

/** The benchmarks in the order they run: the sandbox start-up first, while the machine is
 *  quietest, the server benchmarks after. Each takes `--quick` and decides itself what small
 *  sizes mean for it (its header and usage line say), so this list holds no sizes of its own. */
const SCRIPTS = ["startup", "cli", "connect", "load", "flood", "classroom", "cluster"] as const;

/** The last part of a failed script's stderr kept for RESULTS.md. */
const STDERR_TAIL_CHARS = 1500;

type ScriptOutcome =
  | { name: string; kind: "ran"; seconds: number }
  | { name: string; kind: "failed"; seconds: number; exit: string; stderrTail: string }
  | { name: string; kind: "skipped"; why: string };

// What a result file holds (BenchResult in lib/stats.ts), checked rather than trusted: a file
// another script wrote, or an older version of one, may not have the shape. JSON has no NaN;
// JSON.stringify writes a figure that could not be measured as null, read back here as NaN.
const FigureSchema = z.object({
  name: z.string(),
  unit: z.string(),
  stat: z.string(),
  nslab: z.number().nullable().transform((v) => v ?? Number.NaN),
  peerName: z.string().nullable(),
  peer: z.number().nullable(),
  ratio: z.number().nullable(),
  budget: z.number().nullable(),
  detail: z.string().optional(),
});
const BenchResultSchema = z.object({
  name: z.string(),
  takenAt: z.string(),
  figures: z.array(FigureSchema),
  extra: z.record(z.string(), z.unknown()).optional(),
});

const USAGE = "usage: npm run bench [-- [--quick] [--only SCRIPT[,SCRIPT…]]]   (as root; writes bench/RESULTS.md)";

/** --only: run these scripts alone; RESULTS.md keeps the others' last results, dated. */
function parseArgs(argv: string[]): { quick: boolean; only: string[] | null } {
  let quick = false;
  let only: string[] | null = null;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === "--quick") quick = true;
    else if (arg === "--only" && argv[i + 1]) {
      only = (argv[++i] as string).split(",").filter(Boolean);
      const unknown = only.filter((name) => !(SCRIPTS as readonly string[]).includes(name));
      if (unknown.length > 0) {
        process.stderr.write(`bench: no script ${unknown.join(", ")}; the scripts are ${SCRIPTS.join(", ")}\n`);
        process.exit(2);
      }
    } else if (arg === "--help" || arg === "-h") {
      process.stdout.write(`${USAGE}\n`);
      process.exit(0);
    } else {
      process.stderr.write(`bench: unknown argument ${arg}; ${USAGE}\n`);
      process.exit(2);
    }
  }
  return { quick, only };
}

function runScript(name: string, args: readonly string[]): Promise<ScriptOutcome> {
  const file = path.join(BENCH_DIR, `${name}.ts`);
  if (!fs.existsSync(file)) return Promise.resolve({ name, kind: "skipped", why: `bench/${name}.ts does not exist yet` });
  console.log(`\n== bench/${name}.ts ${args.join(" ")}`);
  const t0 = Date.now();
  return new Promise((resolve) => {
    // stdout straight through; stderr through too, with its end kept for the summary.
    const child = spawn(process.execPath, ["--import", "tsx", file, ...args], { cwd: PROJECT_ROOT, stdio: ["ignore", "inherit", "pipe"] });
    let stderrTail = "";
    child.stderr.on("data", (chunk: Buffer) => {
      process.stderr.write(chunk);
      stderrTail = (stderrTail + chunk.toString("utf8")).slice(-STDERR_TAIL_CHARS);
    });
    child.on("error", (err) => resolve({ name, kind: "failed", seconds: (Date.now() - t0) / 1000, exit: err.message, stderrTail }));
    child.on("close", (code, signal) => {
      const seconds = (Date.now() - t0) / 1000;
      if (code === 0) resolve({ name, kind: "ran", seconds });
      else resolve({ name, kind: "failed", seconds, exit: signal ? `killed by ${signal}` : `exit status ${code}`, stderrTail: stderrTail.trim() });
    });
  });
}

function readResults(): Array<{ file: string; result: BenchResult } | { file: string; error: string }> {
  if (!fs.existsSync(RESULTS_DIR)) return [];
  return fs
    .readdirSync(RESULTS_DIR)
    .filter((f) => f.endsWith(".json"))
    .sort((a, b) => order(a) - order(b) || a.localeCompare(b))
    .map((file) => {
      let value: unknown;
      try {
        value = JSON.parse(fs.readFileSync(path.join(RESULTS_DIR, file), "utf8"));
      } catch (err) {
        return { file, error: `not JSON: ${(err as Error).message}` };
      }
      const parsed = BenchResultSchema.safeParse(value);
      if (!parsed.success) return { file, error: `not a benchmark result: ${parsed.error.issues[0]?.message ?? "unknown shape"} at ${parsed.error.issues[0]?.path.join(".") ?? ""}` };
      const result: BenchResult = parsed.data;
      return { file, result };
    });
}

/** Results in the order the scripts run; others after. */
function order(file: string): number {
  const i = SCRIPTS.findIndex((name) => `${name}.json` === file);
  return i < 0 ? SCRIPTS.length : i;
}

/** A cell of a Markdown table: no pipes or line breaks of its own. */
function cell(text: string): string {
  return text.replace(/\|/g, "\\|").replace(/\s*\n\s*/g, " ");
}

function verdict(f: Figure): string {
  const within = withinBudget(f);
  if (within === null) return "reported";
  return within ? "within" : "**MISSED**";
}

function budgetText(f: Figure): string {
  if (f.budget === null) return "—";
  // Without a peer the budget is on the value itself, in the figure's unit.
  return f.ratio === null ? `≤ ${f.budget} ${f.unit}` : `≤ ${f.budget}×`;
}

function tableRows(results: BenchResult[], runStartedAt: Date): string[] {
  const rows = ["| figure | nslab | peer | ratio | budget | verdict |", "| --- | --- | --- | --- | --- | --- |"];
  for (const result of results) {
    const earlier = new Date(result.takenAt) < runStartedAt ? ` (earlier run, ${result.takenAt})` : "";
    for (const f of result.figures) {
      const peer = f.peer === null ? "—" : `${formatNumber(f.peer)} ${f.unit} (${f.peerName ?? "peer"})`;
      rows.push(
        `| ${cell(`${result.name}: ${f.name}${earlier}`)} | ${cell(`${f.stat} ${formatNumber(f.nslab)} ${f.unit}`)} | ${cell(peer)} | ${f.ratio === null ? "—" : `${formatNumber(f.ratio)}×`} | ${budgetText(f)} | ${verdict(f)} |`,
      );
    }
  }
  return rows;
}

/** A script's own remarks, by convention `extra.notes` (an array of sentences). */
function extraNotes(result: BenchResult): string[] {
  const notes = result.extra?.notes;
  return Array.isArray(notes) ? notes.filter((n): n is string => typeof n === "string") : [];
}

function outcomeLine(o: ScriptOutcome): string {
  switch (o.kind) {
    case "ran":
      return `- \`bench/${o.name}.ts\`: ran in ${o.seconds.toFixed(1)} s`;
    case "failed":
      return `- \`bench/${o.name}.ts\`: **failed** after ${o.seconds.toFixed(1)} s (${o.exit})${o.stderrTail ? `:\n\n  \`\`\`\n${o.stderrTail.split("\n").map((l) => `  ${l}`).join("\n")}\n  \`\`\`` : ""}`;
    case "skipped":
      return `- \`bench/${o.name}.ts\`: skipped, ${o.why}`;
  }
}

function resultsMarkdown(quick: boolean, runStartedAt: Date, machine: Record<string, string>, outcomes: ScriptOutcome[], read: ReturnType<typeof readResults>): { markdown: string; table: string } {
  const results = read.flatMap((r) => ("result" in r ? [r.result] : []));
  const table = tableRows(results, runStartedAt).join("\n");
  const lines = [
    "# Benchmark results",
    "",
    `Written by \`npm run bench${quick ? " -- --quick" : ""}\` (bench/run.ts), started ${runStartedAt.toISOString()}; every run overwrites it.`,
    "Each ratio is nslab against its peer measured in the same run, interleaved round by round: absolute",
    "times move with the machine's load, the ratios are what hold. See bench/README.md for what each script measures.",
    ...(quick ? ["", "**A quick run** (`--quick`): small sizes, to show that everything runs; the figures are not a measurement."] : []),
    "",
    "## Machine",
    "",
    ...Object.entries(machine).map(([key, value]) => `- ${key}: ${value}`),
    "",
    "## Figures",
    "",
    table,
    "",
    "## Scripts",
    "",
    ...outcomes.map(outcomeLine),
    ...read.flatMap((r) => ("error" in r ? [`- \`results/${r.file}\`: ignored, ${r.error}`] : [])),
    "",
    "## Notes",
  ];
  for (const result of results) {
    lines.push("", `### ${result.name}`, "", `Taken ${result.takenAt}.`, "");
    for (const f of result.figures) if (f.detail) lines.push(`- **${f.name}**: ${f.detail}`);
    for (const note of extraNotes(result)) lines.push(`- ${note}`);
  }
  return { markdown: `${lines.join("\n")}\n`, table };
}

async function main(): Promise<void> {
  const { quick, only } = parseArgs(process.argv.slice(2));
  if (process.getuid?.() !== 0) {
    process.stderr.write(
      "npm run bench needs root: the benchmarks start real sandboxes and lab servers (namespaces, cgroups, mounts, uid ranges).\n" +
        "Run it as root on the machine to be measured, e.g. `sudo npm run bench`.\n",
    );
    process.exit(1);
  }
  const runStartedAt = new Date();
  // Taken before the benchmarks, so the load average is the machine's, not theirs.
  const { load: loadBefore, ...machine } = describeMachine();
  const outcomes: ScriptOutcome[] = [];
  for (const script of SCRIPTS.filter((name) => only === null || only.includes(name))) {
    const outcome = await runScript(script, quick ? ["--quick"] : []);
    if (outcome.kind === "skipped") console.log(`\n== bench/${script}.ts: skipped, ${outcome.why}`);
    if (outcome.kind === "failed") console.log(`\n== bench/${script}.ts: FAILED (${outcome.exit}); going on`);
    outcomes.push(outcome);
  }
  const { markdown, table } = resultsMarkdown(quick, runStartedAt, { ...machine, "load average before the run": loadBefore ?? "", "load average after it": describeMachine().load ?? "" }, outcomes, readResults());
  fs.writeFileSync(RESULTS_MD, markdown);
  console.log(`\n${table}\n`);
  for (const o of outcomes) {
    if (o.kind === "failed") console.log(`bench/${o.name}.ts failed (${o.exit}); its output above says why`);
    if (o.kind === "skipped") console.log(`bench/${o.name}.ts skipped: ${o.why}`);
  }
  console.log(`\nwritten: ${path.relative(PROJECT_ROOT, RESULTS_MD)}`);
  if (outcomes.some((o) => o.kind === "failed")) process.exit(1);
}

main().catch((err: unknown) => {
  console.error(`bench: ${(err as Error).message}`);
  process.exit(1);
});
