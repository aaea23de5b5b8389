// The launcher's --layer-fd: a writable layer mounted ahead by the spawner is taken only when
// it is what the spawner makes, a detached ext4 mount holding nothing but the layer's empty
// directories. A host directory, a mount of the host's own tree and a layer already used are
// refused before anything runs. (The layer that is taken is tested in server/sandbox/host.test.ts.)
import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";

import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { hostCgroupDriver } from "../server/sandbox/cgroup";
import type { CreatedCgroup } from "../server/sandbox/cgroup";
import { launcherArgv, sandboxEnv } from "../server/sandbox/launcher-args";
import { openLayerStorage, writeLayerImage } from "../server/sandbox/layer-disk";
import { DEFAULT_LIMITS } from "../server/sandbox/limits";
import { Spawner } from "../server/sandbox/spawner";
import { LAUNCHER, ROOTFS, diskLayersUnavailable, sandboxUnavailable } from "../server/testing/kernel";

const unavailable = sandboxUnavailable();
const WORK_DIR = `/var/tmp/nslab-test-launcher-layer-${process.pid}`;
const CGROUP_PARENT = `/nslab-test-launcher-layer-${process.pid}`;
const skipped = unavailable ?? diskLayersUnavailable();

/** The launcher with `layerFd` as its descriptor 3 and --layer-fd 3: its exit status and what it
 *  printed. */
function launchWithLayer(layerFd: number, cgroup: CreatedCgroup["cgroup"], mountDir: string): Promise<{ code: number | null; output: string }> {
  const { file, args } = launcherArgv({
    launcherPath: LAUNCHER,
    rootfs: ROOTFS,
    mountDir,
    uidBase: 2_100_000_000,
    hostname: "lab-layer",
    layer: { mountFd: 3 },
    shmBytes: 16 * 1024 * 1024,
    cgroup,
    env: sandboxEnv("lab-layer"),
    command: ["/bin/true"],
  });
  return new Promise((resolve) => {
    const child = spawn(file, args, { stdio: ["ignore", "pipe", "pipe", layerFd], cwd: "/" });
    let output = "";
    child.stdout?.on("data", (chunk: Buffer) => (output += chunk.toString("utf8")));
    child.stderr?.on("data", (chunk: Buffer) => (output += chunk.toString("utf8")));
    child.on("close", (code) => resolve({ code, output }));
  });
}

describe.skipIf(skipped !== null)(`the launcher's --layer-fd${skipped ? ` (skipped: ${skipped})` : ""}`, () => {
  const found = hostCgroupDriver(CGROUP_PARENT);
  let spawner: Spawner;
  let created: CreatedCgroup;
  let storage: ReturnType<typeof openLayerStorage>;
  const mountDir = path.join(WORK_DIR, "mnt");

  beforeAll(async () => {
    if (!("driver" in found)) throw new Error(found.reason);
    fs.mkdirSync(mountDir, { recursive: true });
    for (const parent of Object.values(found.driver.parents)) fs.mkdirSync(parent, { recursive: true });
    created = await found.driver.create("layertest", DEFAULT_LIMITS, 2_100_000_000);
    storage = openLayerStorage({ dataDir: WORK_DIR, layerBytes: 32 * 1024 * 1024, layerInodes: 4096, setting: "disk" });
    spawner = new Spawner(path.join(path.dirname(LAUNCHER), "nslab-spawner"));
  });
  afterAll(async () => {
    spawner.close();
    await spawner.helperExited();
    if ("driver" in found) {
      found.driver.remove(created.cgroup);
      for (const parent of Object.values(found.driver.parents)) if (fs.existsSync(parent)) fs.rmdirSync(parent);
    }
    fs.rmSync(WORK_DIR, { recursive: true, force: true });
  });

  /** A layer as the spawner makes one for a session. */
  async function layer(name: string): Promise<number> {
    if (storage.mode !== "disk") throw new Error(storage.reason);
    const image = path.join(storage.dir, `${name}.img`);
    await writeLayerImage(image, storage.template, true);
    const made = await spawner.makeLayer(image);
    if (!made.ok) throw new Error(made.message);
    return made.fd;
  }

  it("refuses a host directory", async () => {
    const dir = fs.openSync(WORK_DIR, "r");
    try {
      const run = await launchWithLayer(dir, created.cgroup, mountDir);
      expect(run.code).toBe(125);
      expect(run.output).toMatch(/--layer-fd (is not an ext4 filesystem|is not the root directory of a mount)/);
    } finally {
      fs.closeSync(dir);
    }
  });

  it("refuses the root of a mount the host has (not a detached one)", async () => {
    // The mount that holds the layers' directory: a host filesystem, attached to the host's tree.
    const mountPoint = fs.readFileSync("/proc/self/mountinfo", "utf8").split("\n").map((line) => line.split(" ")[4] ?? "")
      .filter((point) => point && (WORK_DIR === point || WORK_DIR.startsWith(point.endsWith("/") ? point : `${point}/`)))
      .sort((a, b) => b.length - a.length)[0] ?? "/";
    const root = fs.openSync(mountPoint, "r");
    try {
      const run = await launchWithLayer(root, created.cgroup, mountDir);
      expect(run.code).toBe(125);
      expect(run.output).toMatch(/--layer-fd is not an ext4 filesystem|move_mount --layer-fd onto .*: Invalid argument/);
    } finally {
      fs.closeSync(root);
    }
  });

  it("refuses a layer that is not fresh: a file in it, or in its upper directory", async () => {
    for (const where of [".", "upper"]) {
      const fd = await layer(`used-${where === "." ? "top" : where}`);
      try {
        fs.writeFileSync(`/proc/self/fd/${fd}/${where}/left-behind`, "another learner's\n");
        const run = await launchWithLayer(fd, created.cgroup, mountDir);
        expect(run.code, where).toBe(125);
        expect(run.output, where).toContain("--layer-fd is not a fresh layer");
      } finally {
        fs.closeSync(fd);
      }
    }
  });
});
