// The launcher's step report and the shared enum of step names are one list: every report()
// call in native/launcher.c names a step of LAUNCH_STEP_NAMES, and every name of the enum is
// reported somewhere. A step added on one side only fails here, not as a page that cannot
// parse session.ready.
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

import { describe, expect, it } from "vitest";

import { LAUNCH_STEP_NAMES } from "../common/launch-events";

const here = path.dirname(fileURLToPath(import.meta.url));

function reportedSteps(source: string): string[] {
  // report("step", …) with a literal first argument; the function's own definition is not a call.
  return [...source.matchAll(/\breport\("([^"]+)"/g)].map((m) => m[1] ?? "");
}

describe("the launcher's step names", () => {
  const source = fs.readFileSync(path.join(here, "launcher.c"), "utf8");

  it("are exactly the shared enum", () => {
    expect(new Set(reportedSteps(source))).toEqual(new Set(LAUNCH_STEP_NAMES));
  });

  it("are only ever string literals, so the check above sees every one", () => {
    const calls = [...source.matchAll(/\breport\(([^,)]*)/g)].map((m) => m[1]?.trim() ?? "");
    const nonLiteral = calls.filter((arg) => !/^"[^"]+"$/.test(arg) && arg !== "const char *step");
    expect(nonLiteral).toEqual([]);
  });
});
