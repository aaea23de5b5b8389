// What `npm test` says at its end, from the JSON reports of vitest and Playwright: the counts,
// and each failed test with the first line of its failure — the end of a long log is what a CI
// page shows, and a count alone sends the reader back through thousands of lines.
import fs from "node:fs";
import path from "node:path";

/** The first line of a failure that says something, without colours, at most 300 characters. */
export function firstLine(text) {
  const plain = String(text ?? "").replace(/\x1b\[[0-9;]*m/g, "");
  return plain.split("\n").find((line) => line.trim() !== "")?.trim().slice(0, 300) ?? "";
}

/** Counts and failures of a vitest JSON report (`--reporter=json`); nothing when it is missing. */
export function vitestReport(file, root) {
  const totals = { passed: 0, failed: 0, skipped: 0, failures: [] };
  if (!fs.existsSync(file)) return totals;
  const report = JSON.parse(fs.readFileSync(file, "utf8"));
  totals.passed = report.numPassedTests ?? 0;
  totals.skipped = (report.numPendingTests ?? 0) + (report.numTodoTests ?? 0);
  totals.failed = report.numFailedTests ?? 0;
  for (const result of report.testResults ?? []) {
    const name = path.relative(root, result.name ?? "");
    const tests = result.assertionResults ?? [];
    // A file that failed before running any test (an import error) counts as one failure.
    if (result.status === "failed" && tests.length === 0) {
      totals.failed += 1;
      totals.failures.push(`${name}: ${firstLine(result.message)}`);
    }
    for (const test of tests) {
      if (test.status === "failed") totals.failures.push(`${name} › ${test.fullName ?? test.title}: ${firstLine(test.failureMessages?.[0])}`);
    }
  }
  return totals;
}

/** Counts and failures of a Playwright JSON report; a flaky test (passed on a retry) passed. */
export function playwrightReport(file) {
  const totals = { passed: 0, failed: 0, skipped: 0, failures: [] };
  if (!fs.existsSync(file)) return totals;
  const report = JSON.parse(fs.readFileSync(file, "utf8"));
  const stats = report.stats ?? {};
  totals.passed = (stats.expected ?? 0) + (stats.flaky ?? 0);
  totals.failed = stats.unexpected ?? 0;
  totals.skipped = stats.skipped ?? 0;
  const walk = (suite) => {
    for (const spec of suite.specs ?? []) {
      for (const test of spec.tests ?? []) {
        if (test.status === "unexpected") totals.failures.push(`${spec.file ?? suite.file} › ${spec.title}: ${firstLine(test.results?.at(-1)?.error?.message)}`);
      }
    }
    for (const child of suite.suites ?? []) walk(child);
  };
  for (const suite of report.suites ?? []) walk(suite);
  return totals;
}
