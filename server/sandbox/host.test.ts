// The sandbox host's start gate and the sandboxes it prepares ahead, with real cgroups and
// launchers (as root on a host that can make sandboxes).
import fs from "node:fs";
import path from "node:path";

import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { hostCgroupDriver } from "./cgroup";
import { SandboxHost } from "./host";
import { layerImageOf } from "./layer-disk";
import { Spawner } from "./spawner";
import { UID_SLOTS_DIR } from "./uid-slots";
import { DEFAULT_LIMITS } from "./limits";
import type { Sandbox } from "./sandbox";
import { diskLayersUnavailable, loopBackingInodes, sandboxUnavailable, testHostOptions } from "../testing/kernel";

const unavailable = sandboxUnavailable();
const RUN_DIR = `/run/nslab-test-host-${process.pid}`;
const CGROUP_PARENT = `/nslab-test-host-${process.pid}`;

const OPTIONS = testHostOptions(RUN_DIR);
/** Where the disk layers' test puts its images: on disk, not in /run's tmpfs. */
const DATA_DIR = `/var/tmp/nslab-test-host-${process.pid}`;
const noDiskLayers = diskLayersUnavailable();

/** The launcher of a running sandbox (the parent of its pid 1) and its command line. */
function launcherArgsOf(sandbox: Sandbox): string[] {
  const status = fs.readFileSync(`/proc/${sandbox.hostPid}/status`, "utf8");
  const ppid = /^PPid:\s+(\d+)/m.exec(status)?.[1];
  return fs.readFileSync(`/proc/${ppid}/cmdline`, "utf8").split("\0");
}

/** The session ids the host-wide uid slots name (other servers' too). */
function slotSessions(): string[] {
  return fs.readdirSync(UID_SLOTS_DIR).filter((name) => /^\d+$/.test(name)).map((name) => {
    try {
      return fs.readFileSync(path.join(UID_SLOTS_DIR, name), "utf8").trim().split(" ")[1] ?? "";
    } catch {
      return "";
    }
  });
}

/** The first host uid of a running sandbox's range, from its uid map ("0 <base> 65536"). */
function uidBaseOf(sandbox: Sandbox): number {
  return Number(fs.readFileSync(`/proc/${sandbox.hostPid}/uid_map`, "utf8").trim().split(/\s+/)[1]);
}

/** Until `done()`, checking at every turn of the event loop (no timing: a turn is a turn). */
async function until(done: () => boolean, what: string, turns = 20_000): Promise<void> {
  for (let i = 0; i < turns; i++) {
    if (done()) return;
    await new Promise((r) => setTimeout(r, 1));
  }
  throw new Error(`gave up waiting for ${what}`);
}

describe.skipIf(unavailable !== null)(`the sandbox host${unavailable ? ` (skipped: ${unavailable})` : ""}`, () => {
  const found = hostCgroupDriver(CGROUP_PARENT);
  const sessions = () => ("driver" in found ? found.driver.listSessions().sort() : []);
  const sessionDirs = () => fs.readdirSync(path.join(RUN_DIR, "sessions")).sort();

  beforeAll(() => {
    if (!("driver" in found)) throw new Error(found.reason);
  });
  afterAll(() => {
    if ("driver" in found) for (const parent of Object.values(found.driver.parents)) if (fs.existsSync(parent)) fs.rmdirSync(parent);
    fs.rmSync(RUN_DIR, { recursive: true, force: true });
  });

  it("prepares sandboxes ahead, starts a learner in one, makes another, and removes them all on close", async () => {
    if (!("driver" in found)) return;
    const host = new SandboxHost(found.driver, { ...OPTIONS, ready: { count: 2, limits: DEFAULT_LIMITS } });
    const started: Sandbox[] = [];
    const made: string[] = [];
    try {
      // Nothing before the clean-up of leftovers (which would take them for a dead run's).
      expect(host.starts.ready).toBe(0);
      await host.cleanupLeftovers();
      await until(() => host.starts.ready === 2, "two sandboxes prepared ahead");
      const prepared = sessions();
      made.push(...prepared);
      expect(prepared).toHaveLength(2);
      expect(sessionDirs()).toEqual(prepared);
      // Another clean-up (a second server start in the same process) leaves them be: their owner
      // is this process, but they are this host's own.
      expect(await host.cleanupLeftovers()).toBe(0);
      expect(sessions()).toEqual(prepared);

      const sandbox = await host.start({ limits: { ...DEFAULT_LIMITS }, cols: 80, rows: 24, command: ["/bin/sleep", "30"] });
      started.push(sandbox);
      // The oldest prepared one, with the limits it was made with.
      expect(prepared).toContain(sandbox.sessionId);
      expect(sandbox.limits).toEqual(DEFAULT_LIMITS);
      expect(fs.readFileSync(`/proc/${sandbox.hostPid}/cgroup`, "utf8")).toContain(`${CGROUP_PARENT}/${sandbox.sessionId}`);
      await until(() => host.starts.ready === 2, "the one taken made again");
      expect(sessions()).toHaveLength(3);

      // Other limits: a sandbox of its own, the prepared ones left for a learner with the defaults.
      const other = await host.start({ limits: { ...DEFAULT_LIMITS, pids: 50 }, cols: 80, rows: 24, command: ["/bin/sleep", "30"] });
      started.push(other);
      expect(prepared).not.toContain(other.sessionId);
      expect(other.limits.pids).toBe(50);
      expect(host.starts.ready).toBe(2);
    } finally {
      for (const sandbox of started) await sandbox.destroy();
      await host.close();
    }
    // Closing removed what was prepared: no cgroup, no session directory, no uid range.
    expect(sessions()).toEqual([]);
    expect(sessionDirs()).toEqual([]);
    const slotsLeft = slotSessions();
    expect([...made, ...started.map((s) => s.sessionId)].filter((id) => slotsLeft.includes(id))).toEqual([]);
    await expect(host.start({ limits: { ...DEFAULT_LIMITS }, cols: 80, rows: 24 })).rejects.toThrow("the sandbox host is closed");
  });

  it.skipIf(noDiskLayers !== null)(`mounts the layers of the sandboxes it prepares ahead, hands one to its launcher, and unmounts and removes it with the sandbox${noDiskLayers ? ` (skipped: ${noDiskLayers})` : ""}`, async () => {
    if (!("driver" in found)) return;
    const host = new SandboxHost(found.driver, { ...OPTIONS, dataDir: DATA_DIR, layerStorage: "disk", ready: { count: 1, limits: DEFAULT_LIMITS } });
    const layersDir = host.layers.mode === "disk" ? host.layers.dir : "";
    const started: Sandbox[] = [];
    try {
      await host.cleanupLeftovers();
      await until(() => host.starts.ready === 1, "a sandbox prepared ahead");
      const [id] = sessions();
      const image = layerImageOf(layersDir, id ?? "");
      const inode = fs.statSync(image).ino;
      // Mounted before any start: its image is on a loop device already.
      expect(loopBackingInodes()).toContain(inode);

      const sandbox = await host.start({
        limits: { ...DEFAULT_LIMITS },
        cols: 200,
        rows: 24,
        command: ["/bin/sh", "-c", "echo layer-ok > /root/file && cat /root/file && df -k / | tail -n 1 && echo tmp-on-$(stat -f -c %T /tmp) && exec sleep 30"],
      });
      started.push(sandbox);
      expect(sandbox.sessionId).toBe(id);
      const args = launcherArgsOf(sandbox);
      expect(args).toContain("--layer-fd");
      expect(args).not.toContain("--layer-image");
      let output = "";
      sandbox.onData((chunk) => (output += chunk.toString("utf8")));
      await until(() => /tmp-on-\S+\r\n/.test(output), "the sandbox's output");
      // /tmp is a directory of the layer, on its disk, as with the launcher's own mount.
      expect(output).toContain("tmp-on-overlayfs\r\n");
      // The layer's own size (64 MiB in these tests, the image made with room for ext4's own
      // metadata), not the host disk's.
      const totalKiB = Number(/layer-ok\r\n\S+\s+(\d+)/.exec(output)?.[1]);
      expect(totalKiB).toBeGreaterThan(56 * 1024);
      expect(totalKiB).toBeLessThan(72 * 1024);

      await sandbox.destroy();
      // Gone with the sandbox: no loop device on its image, and no image.
      expect(loopBackingInodes()).not.toContain(inode);
      expect(fs.existsSync(image)).toBe(false);
    } finally {
      for (const sandbox of started) await sandbox.destroy();
      await host.close();
      fs.rmSync(DATA_DIR, { recursive: true, force: true });
    }
    expect(sessions()).toEqual([]);
  });

  it.skipIf(noDiskLayers !== null)(`has the launcher mount the layer itself where the spawner surely did not, and starts none where it may have${noDiskLayers ? ` (skipped: ${noDiskLayers})` : ""}`, async () => {
    if (!("driver" in found)) return;
    // As a kernel without fsopen, or a container's /dev without loop device nodes, answers.
    const makeLayer = Spawner.prototype.makeLayer;
    Spawner.prototype.makeLayer = () => Promise.resolve({ ok: false, message: "fsopen ext4: Function not implemented", surely: true });
    const host = new SandboxHost(found.driver, { ...OPTIONS, dataDir: DATA_DIR, layerStorage: "disk" });
    try {
      const sandbox = await host.start({ limits: { ...DEFAULT_LIMITS }, cols: 200, rows: 24, command: ["/bin/sh", "-c", "echo layer-ok > /root/file && cat /root/file && exec sleep 30"] });
      try {
        expect(launcherArgsOf(sandbox)).toContain("--layer-image");
        let output = "";
        sandbox.onData((chunk) => (output += chunk.toString("utf8")));
        await until(() => output.includes("layer-ok\r\n"), "the sandbox's output");
      } finally {
        await sandbox.destroy();
      }
      // No answer (a helper that died, or did not answer in time) may still mean a mount to
      // come: the image is not given to the launcher too, the start fails and leaves nothing.
      Spawner.prototype.makeLayer = () => Promise.resolve({ ok: false, message: "the terminal spawner stopped before it answered a layer request", surely: false });
      await expect(host.start({ limits: { ...DEFAULT_LIMITS }, cols: 80, rows: 24, command: ["/bin/true"] })).rejects.toThrow(/the writable layer was not mounted/);
      expect(host.layers.mode === "disk" ? fs.readdirSync(host.layers.dir).filter((f) => f.endsWith(".img")) : ["not on disk"]).toEqual([]);
    } finally {
      Spawner.prototype.makeLayer = makeLayer;
      await host.close();
      fs.rmSync(DATA_DIR, { recursive: true, force: true });
    }
    expect(sessions()).toEqual([]);
  });

  it("starts no more sandboxes at once than its concurrency, and every one of a burst", async () => {
    if (!("driver" in found)) return;
    const host = new SandboxHost(found.driver, { ...OPTIONS, startConcurrency: 1 });
    let most = 0;
    let sampling = true;
    const sample = () => {
      most = Math.max(most, host.starts.active);
      if (sampling) setImmediate(sample);
    };
    sample();
    try {
      const burst = await Promise.all(
        Array.from({ length: 4 }, () => host.start({ limits: { ...DEFAULT_LIMITS }, cols: 80, rows: 24, command: ["/bin/sleep", "30"] })),
      );
      sampling = false;
      expect(most).toBe(1);
      expect(new Set(burst.map((s) => s.sessionId)).size).toBe(4);
      expect(host.starts).toMatchObject({ active: 0, waiting: 0, concurrency: 1, ready: 0 });
      for (const sandbox of burst) await sandbox.destroy();
    } finally {
      sampling = false;
      await host.close();
    }
    expect(sessions()).toEqual([]);
  });

  it("opens a run directory left private, so its sandboxes start; a private parent is refused by name", async () => {
    if (!("driver" in found)) return;
    // The shape a run directory had when something else (the uid slots' directory) made it
    // first with mode 0700: every launcher then failed at its root's bind mount with EACCES.
    const privateRunDir = `${RUN_DIR}-private`;
    fs.mkdirSync(path.join(privateRunDir, "sessions"), { recursive: true, mode: 0o700 });
    fs.chmodSync(privateRunDir, 0o700);
    fs.chmodSync(path.join(privateRunDir, "sessions"), 0o700);
    const host = new SandboxHost(found.driver, testHostOptions(privateRunDir));
    try {
      expect(fs.statSync(privateRunDir).mode & 0o001).toBe(0o001);
      const sandbox = await host.start({ limits: { ...DEFAULT_LIMITS }, cols: 80, rows: 24, command: ["/bin/true"] });
      await sandbox.destroy();
    } finally {
      await host.close();
      fs.rmSync(privateRunDir, { recursive: true, force: true });
    }
    const operatorDir = `${RUN_DIR}-operator`;
    fs.mkdirSync(operatorDir, { mode: 0o700 });
    fs.chmodSync(operatorDir, 0o700);
    try {
      expect(() => new SandboxHost(found.driver, testHostOptions(path.join(operatorDir, "lab")))).toThrow(
        `${operatorDir} (mode 0700) does not let other users through; run chmod o+x ${operatorDir}`,
      );
    } finally {
      fs.rmSync(operatorDir, { recursive: true, force: true });
    }
  });

  it("gives two servers with different run directories different uid ranges", async () => {
    if (!("driver" in found)) return;
    const otherRunDir = `${RUN_DIR}-other`;
    const first = new SandboxHost(found.driver, OPTIONS);
    const second = new SandboxHost(found.driver, testHostOptions(otherRunDir));
    const started: Sandbox[] = [];
    try {
      const spec = { limits: { ...DEFAULT_LIMITS }, cols: 80, rows: 24, command: ["/bin/sleep", "30"] };
      started.push(...(await Promise.all([first.start(spec), second.start(spec)])));
      const [a, b] = started.map(uidBaseOf);
      expect(Math.abs((a ?? 0) - (b ?? 0))).toBeGreaterThanOrEqual(65536);
      // Both slots in the one host-wide place, neither under a run directory.
      expect(slotSessions()).toEqual(expect.arrayContaining(started.map((s) => s.sessionId)));
      expect(fs.existsSync(path.join(otherRunDir, "uid-slots"))).toBe(false);
    } finally {
      for (const sandbox of started) await sandbox.destroy();
      await first.close();
      await second.close();
      fs.rmSync(otherRunDir, { recursive: true, force: true });
    }
    expect(sessions()).toEqual([]);
  });
});
