// The closing summary of `npm test`, read from real reports: vitest and Playwright each run a
// small suite of their own here (one test passes, one fails, one is skipped, one file cannot
// load) and write the JSON report the test script reads, so a change in either runner's format
// fails this test instead of silently counting nothing.
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

import { afterAll, beforeAll, describe, expect, it } from "vitest";

// @ts-expect-error: a plain .mjs module of the test script, without type declarations
import { firstLine, playwrightReport, vitestReport } from "./test-report.mjs";

const root = path.resolve(__dirname, "..");
const bin = (name: string) => path.join(root, "node_modules/.bin", name);

interface Report {
  passed: number;
  failed: number;
  skipped: number;
  failures: string[];
}

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "nslab-test-report-"));
  // The suites' imports of the runners resolve to the project's own.
  fs.symlinkSync(path.join(root, "node_modules"), path.join(dir, "node_modules"));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/** A directory of test files for one runner, under the scratch directory. */
function writeSuite(name: string, files: Record<string, string>): string {
  const suite = path.join(dir, name);
  fs.mkdirSync(suite);
  for (const [file, text] of Object.entries(files)) fs.writeFileSync(path.join(suite, file), text);
  return suite;
}

/** The sample suite both runners are given, in `runner`'s words (`it` or `test`): one test
 *  passes, one fails, one is skipped on purpose, to be counted as skipped. */
function sample(imports: string, runner: string): string {
  return [
    imports,
    `${runner}("adds", () => expect(1 + 1).toBe(2));`,
    `${runner}("compares names", () => expect("sandbox").toBe("sandboxes"));`,
    `${runner}.skip("is left for later", () => {});`,
    "",
  ].join("\n");
}

describe("the closing summary of npm test", () => {
  it("counts a vitest run and names each failed test and each file that could not load", () => {
    const suite = writeSuite("vitest", {
      "sample.test.ts": sample('import { expect, it } from "vitest";', "it"),
      "broken.test.ts": 'import "./no-such-module";\n',
    });
    const json = path.join(dir, "vitest.json");
    const run = spawnSync(bin("vitest"), ["run", "--root", suite, "--reporter=json", `--outputFile.json=${json}`], { encoding: "utf8" });
    expect(run.status).toBe(1);

    const report = vitestReport(json, suite) as Report;
    expect({ passed: report.passed, failed: report.failed, skipped: report.skipped }).toEqual({ passed: 1, failed: 2, skipped: 1 });
    expect(report.failures).toHaveLength(2);
    expect(report.failures).toContainEqual(expect.stringMatching(/^sample\.test\.ts › compares names: .*expected 'sandbox' to be 'sandboxes'/));
    expect(report.failures).toContainEqual(expect.stringMatching(/^broken\.test\.ts: .*no-such-module/));
  });

  it("counts a Playwright run and names each failed test", () => {
    // No page fixture: nothing here starts a browser.
    const suite = writeSuite("playwright", {
      "sample.spec.ts": sample('import { expect, test } from "@playwright/test";', "test"),
      "playwright.config.ts": 'export default { testDir: ".", reporter: [["json"]] };\n',
    });
    const json = path.join(dir, "playwright.json");
    const run = spawnSync(bin("playwright"), ["test", "--config", path.join(suite, "playwright.config.ts")], {
      cwd: suite,
      encoding: "utf8",
      env: { ...process.env, PLAYWRIGHT_JSON_OUTPUT_NAME: json, CI: "" },
    });
    expect(run.status).toBe(1);

    const report = playwrightReport(json) as Report;
    expect({ passed: report.passed, failed: report.failed, skipped: report.skipped }).toEqual({ passed: 1, failed: 1, skipped: 1 });
    expect(report.failures).toEqual([expect.stringMatching(/^sample\.spec\.ts › compares names: .*toBe/)]);
  });

  it("counts nothing where a runner wrote no report (it never started)", () => {
    expect(vitestReport(path.join(dir, "absent.json"), dir)).toEqual({ passed: 0, failed: 0, skipped: 0, failures: [] });
    expect(playwrightReport(path.join(dir, "absent.json"))).toEqual({ passed: 0, failed: 0, skipped: 0, failures: [] });
  });

  it("shows a failure's first line with something in it, without colours, cut at 300 characters", () => {
    expect(firstLine("\n  \n\x1b[31mAssertionError\x1b[39m: expected 1\n  at x.ts:1")).toBe("AssertionError: expected 1");
    expect(firstLine(`${"a".repeat(400)}\nb`)).toHaveLength(300);
    expect(firstLine(undefined)).toBe("");
  });
});
