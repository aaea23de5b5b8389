// An image rebuild under running sandboxes: the new version goes beside the old one, new
// sandboxes start on it, and the old one stays, every file of it, until the last sandbox that
// uses it has ended. A version being removed is refused by the launcher rather than mounted
// half deleted, and an image of the layout before versions is moved aside, never deleted
// under the sandboxes of the release that made it.
import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";

import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { hostCgroupDriver } from "../server/sandbox/cgroup";
import { SandboxHost } from "../server/sandbox/host";
import { DEFAULT_LIMITS } from "../server/sandbox/limits";
import type { Sandbox } from "../server/sandbox/sandbox";
import { sandboxUnavailable, testHostOptions } from "../server/testing/kernel";
// @ts-expect-error: plain JS run by the setup scripts, without type declarations
import { buildRootfs, imagesDirOf } from "./rootfs.mjs";

const unavailable = sandboxUnavailable();
const WORK_DIR = `/var/tmp/nslab-test-image-versions-${process.pid}`;
const RUN_DIR = `/run/nslab-test-image-versions-${process.pid}`;
const CGROUP_PARENT = `/nslab-test-image-versions-${process.pid}`;
const DEST = path.join(WORK_DIR, "rootfs");
const IMAGES = imagesDirOf(DEST) as string;

// Two package sets, as two releases of the image would differ: the second adds findutils.
const FIRST = ["bash", "coreutils"];
const SECOND = ["bash", "coreutils", "findutils"];

const quiet = () => {};
const build = (packages: string[], log: (line: string) => void = quiet) => buildRootfs(DEST, { packages, log });
const versions = () => fs.readdirSync(IMAGES).sort();
const current = () => path.basename(fs.readlinkSync(DEST));

/** A sandbox whose shell answers each line it reads with the count of /usr/bin's entries and
 *  whether `find` is there, so that the same sandbox can be asked again after a rebuild. */
class Asked {
  private output = "";
  private asked = 0;
  constructor(readonly sandbox: Sandbox) {
    sandbox.onData((chunk) => (this.output += chunk.toString("utf8")));
  }

  async ask(): Promise<{ usrBin: number; find: boolean }> {
    const n = ++this.asked;
    this.sandbox.write("\n");
    const pattern = new RegExp(`answer-${n} bin=(\\d+) find=(yes|no)`);
    for (let turn = 0; turn < 20_000; turn++) {
      const found = pattern.exec(this.output);
      if (found) return { usrBin: Number(found[1]), find: found[2] === "yes" };
      await new Promise((r) => setTimeout(r, 1));
    }
    throw new Error(`no answer ${n}; the sandbox printed: ${this.output}`);
  }
}

const ASKING = [
  "/bin/bash",
  "-c",
  "n=0; stty -echo; while read -r _; do n=$((n+1)); c=0; for f in /usr/bin/*; do c=$((c+1)); done; " +
    "if [ -x /usr/bin/find ]; then f=yes; else f=no; fi; echo answer-$n bin=$c find=$f; done",
];

describe.skipIf(unavailable !== null)(`image versions under running sandboxes${unavailable ? ` (skipped: ${unavailable})` : ""}`, () => {
  const found = hostCgroupDriver(CGROUP_PARENT);
  let host: SandboxHost;
  const start = async () => new Asked(await host.start({ limits: { ...DEFAULT_LIMITS }, cols: 120, rows: 24, command: ASKING }));

  beforeAll(() => {
    if (!("driver" in found)) throw new Error(found.reason);
    fs.mkdirSync(WORK_DIR, { recursive: true });
    host = new SandboxHost(found.driver, { ...testHostOptions(RUN_DIR), rootfs: DEST });
  });
  afterAll(async () => {
    await host?.close();
    if ("driver" in found) for (const parent of Object.values(found.driver.parents)) if (fs.existsSync(parent)) fs.rmdirSync(parent);
    fs.rmSync(RUN_DIR, { recursive: true, force: true });
    fs.rmSync(WORK_DIR, { recursive: true, force: true });
  });

  it("keeps a running sandbox's image whole through a rebuild, and removes it once the sandbox ends", async () => {
    build(FIRST);
    const first = current();
    const before = await start();
    const then = await before.ask();
    expect(then.usrBin).toBeGreaterThan(20);
    expect(then.find).toBe(false);

    const said: string[] = [];
    build(SECOND, (line) => said.push(line));
    const second = current();
    expect(second).not.toBe(first);
    // The old version is still there, and says why.
    expect(versions()).toEqual([first, second].sort());
    expect(said.join("\n")).toContain(`kept 1 older sandbox image that running sandboxes use (${first})`);
    // The running sandbox sees exactly what it saw; a new one gets the new image.
    expect(await before.ask()).toEqual(then);
    const after = await start();
    expect((await after.ask()).find).toBe(true);

    // Still in use: a setup that finds the image up to date leaves it alone...
    build(SECOND);
    expect(versions()).toEqual([first, second].sort());
    // ...and removes it once its last sandbox has ended.
    await before.sandbox.destroy();
    build(SECOND);
    expect(versions()).toEqual([second]);
    expect(await after.ask()).toEqual({ usrBin: expect.any(Number), find: true });
    await after.sandbox.destroy();
  });

  it("refuses to start on a version that is being removed", async () => {
    build(SECOND);
    // What the remover holds while it deletes: the exclusive lock on the version's directory.
    const remover = spawn("flock", ["--exclusive", "--no-fork", path.join(IMAGES, current()), "sh", "-c", "echo locked; exec sleep 30"], { stdio: ["ignore", "pipe", "inherit"] });
    try {
      await new Promise<void>((resolve) => remover.stdout.once("data", () => resolve()));
      await expect(start()).rejects.toThrow("this version of the sandbox image is being removed (a newer one replaced it); start the sandbox again");
    } finally {
      remover.kill("SIGKILL");
      await new Promise((r) => remover.once("close", r));
    }
    // Marked for removal (a remover that died half way): refused too.
    const mark = path.join(IMAGES, current(), ".nslab-removing");
    fs.writeFileSync(mark, "");
    try {
      await expect(start()).rejects.toThrow("this version of the sandbox image is being removed");
    } finally {
      fs.rmSync(mark);
    }
    const fresh = await start();
    expect((await fresh.ask()).find).toBe(true);
    await fresh.sandbox.destroy();
  });

  it("moves an image of the layout before versions aside, and removes it only in a later run", async () => {
    build(FIRST);
    // The layout before versions: the image is the directory itself.
    const version = path.join(IMAGES, current());
    fs.rmSync(DEST);
    fs.renameSync(version, DEST);
    const old = await start();
    const then = await old.ask();

    build(SECOND);
    expect(fs.lstatSync(DEST).isSymbolicLink()).toBe(true);
    const moved = versions().filter((name) => name.startsWith("unversioned-"));
    expect(moved).toHaveLength(1);
    expect(await old.ask()).toEqual(then);
    // A later run removes it only once no sandbox holds it.
    build(SECOND);
    expect(versions()).toEqual(expect.arrayContaining(moved));
    expect(await old.ask()).toEqual(then);

    await old.sandbox.destroy();
    build(SECOND);
    expect(versions()).toEqual([current()]);
  });
});
