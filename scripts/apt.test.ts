// scripts/apt.mjs, with an apt-get of the test's own first on PATH: it records how it was
// called, so the test sees what would have been installed without installing anything.
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

import { afterAll, describe, expect, it } from "vitest";

const APT = path.resolve(import.meta.dirname, "apt.mjs");
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "nslab-apt-"));
const calls = path.join(dir, "calls");
fs.writeFileSync(path.join(dir, "apt-get"), `#!/bin/sh\necho "$@" >> ${calls}\n`, { mode: 0o755 });

afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function install(env: Record<string, string>) {
  fs.rmSync(calls, { force: true });
  const program = `import(${JSON.stringify(APT)}).then((m) => console.log("result", m.aptInstall(["nslab-test-pkg"], "a test", console.log)))`;
  const r = spawnSync(process.execPath, ["-e", program], { encoding: "utf8", env: { ...process.env, PATH: `${dir}:${process.env.PATH}`, ...env } });
  return { stdout: r.stdout, calls: fs.existsSync(calls) ? fs.readFileSync(calls, "utf8") : "" };
}

const isRoot = process.getuid?.() === 0;

describe("aptInstall", () => {
  it("with NSLAB_NO_APT=1 installs nothing and prints the command to run", () => {
    const r = install({ NSLAB_NO_APT: "1" });
    expect(r.calls).toBe("");
    expect(r.stdout).toContain("apt-get install -y nslab-test-pkg");
    expect(r.stdout).toContain("result false");
  });

  it.skipIf(!isRoot || !fs.existsSync("/usr/bin/apt-get"))("as root says what it installs, then runs apt-get install", () => {
    const r = install({ NSLAB_NO_APT: "" });
    expect(r.stdout).toMatch(/installing nslab-test-pkg with apt-get \(a test\)/);
    expect(r.calls).toBe("install -y -qq nslab-test-pkg\n");
    expect(r.stdout).toContain("result true");
  });
});
