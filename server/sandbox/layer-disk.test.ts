// The writable layers' storage: a real mkfs.ext4 template, written into sparse session images,
// read back from the ext4 superblock; the sizes of memory-backed mounts against the memory
// limit; and the fallback with its reason.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

import { afterAll, afterEach, describe, expect, it } from "vitest";

import { sandboxUnavailable, testHostOptions } from "../testing/kernel";
import { hostCgroupDriver } from "./cgroup";
import { SandboxHost } from "./host";
import { imageBytes, layerDiskSpace, layerImageOf, layerSizes, layerSupport, listLayerImages, openLayerStorage, removeLayerImage, writeLayerImage } from "./layer-disk";

const MiB = 1024 * 1024;
const support = layerSupport(os.tmpdir());
if (process.env.CI === "true" && support.mode !== "disk") throw new Error(`CI: layers cannot go on disk here: ${support.reason}`);

/** The counts an ext4 superblock (at byte 1024) holds: what the kernel will enforce. */
function superblock(file: string): { inodes: number; freeBytes: number; magic: number } {
  const fd = fs.openSync(file, "r");
  const sb = Buffer.alloc(1024);
  fs.readSync(fd, sb, 0, 1024, 1024);
  fs.closeSync(fd);
  const blockSize = 1024 << sb.readUInt32LE(24);
  return { inodes: sb.readUInt32LE(0), freeBytes: sb.readUInt32LE(12) * blockSize, magic: sb.readUInt16LE(56) };
}

describe("layer storage", () => {
  const dirs: string[] = [];
  function dataDir(): string {
    // Beside the tests' own files, on disk: os.tmpdir() is /tmp, which is on disk here.
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "nslab-layers-"));
    dirs.push(dir);
    return dir;
  }
  afterEach(() => {
    for (const dir of dirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
  });

  it.skipIf(support.mode !== "disk")("makes a template once per size, and session images from it that are ext4 of the layer's bytes and inodes, sparse", async () => {
    const data = dataDir();
    const storage = openLayerStorage({ dataDir: data, layerBytes: 16 * MiB, layerInodes: 65536, setting: "disk" });
    if (storage.mode !== "disk") throw new Error(storage.reason);
    expect(fs.statSync(storage.dir).mode & 0o777).toBe(0o700);
    const [templateFile] = fs.readdirSync(storage.dir);
    expect(templateFile).toMatch(/^\.template-16777216-65536-\d+$/);
    const made = fs.statSync(path.join(storage.dir, templateFile ?? "")).mtimeMs;

    const image = layerImageOf(storage.dir, "0123456789abcdef");
    await writeLayerImage(image, storage.template, false);
    const counts = superblock(image);
    expect(counts.magic).toBe(0xef53);
    // At least the inodes asked for (mkfs fills its inode-table blocks), and about the layer's
    // bytes free: a 16 MiB layer with 65536 inodes needed two block groups.
    expect(counts.inodes).toBeGreaterThanOrEqual(65536);
    expect(counts.inodes).toBeLessThan(65536 + 256);
    expect(counts.freeBytes).toBeGreaterThanOrEqual(16 * MiB);
    expect(counts.freeBytes).toBeLessThan(18 * MiB);
    const st = fs.statSync(image);
    expect({ size: st.size, mode: st.mode & 0o777 }).toEqual({ size: imageBytes(16 * MiB, 65536), mode: 0o600 });
    // Sparse: the disk holds the template's metadata, not the image's size.
    expect(st.blocks * 512).toBeLessThan(2 * MiB);
    // At once (nslab run) the same bytes.
    const other = layerImageOf(storage.dir, "fedcba9876543210");
    await writeLayerImage(other, storage.template, true);
    expect(fs.readFileSync(other).equals(fs.readFileSync(image))).toBe(true);
    // A second image under a name in use is refused, not overwritten.
    await expect(writeLayerImage(image, storage.template, false)).rejects.toThrow(/EEXIST/);
    expect(listLayerImages(storage.dir).sort()).toEqual(["0123456789abcdef", "fedcba9876543210"]);

    // The next host of the same size reads the template; mkfs does not run again.
    const again = openLayerStorage({ dataDir: data, layerBytes: 16 * MiB, layerInodes: 65536, setting: "auto" });
    expect(again.mode).toBe("disk");
    expect(fs.statSync(path.join(storage.dir, templateFile ?? "")).mtimeMs).toBe(made);

    await removeLayerImage(image, false);
    await removeLayerImage(image, false);
    expect(listLayerImages(storage.dir)).toEqual(["fedcba9876543210"]);
    // At once (nslab run), alike: content with an image already gone.
    await removeLayerImage(other, true);
    await removeLayerImage(other, true);
    expect(listLayerImages(storage.dir)).toEqual([]);
  });

  it.skipIf(support.mode !== "disk")("about 256 MiB free in the default layer's image", () => {
    const storage = openLayerStorage({ dataDir: dataDir(), layerBytes: 256 * MiB, layerInodes: 65536, setting: "disk" });
    if (storage.mode !== "disk") throw new Error(storage.reason);
    const file = path.join(storage.dir, "scratch.img");
    const fd = fs.openSync(file, "w");
    fs.ftruncateSync(fd, storage.template.imageBytes);
    for (const s of storage.template.segments) fs.writeSync(fd, s.data, 0, s.data.length, s.offset);
    fs.closeSync(fd);
    const { freeBytes } = superblock(file);
    expect(freeBytes).toBeGreaterThanOrEqual(256 * MiB);
    expect(freeBytes).toBeLessThan(258 * MiB);
  });

  it("falls back to tmpfs with the reason when the data directory is in memory, and refuses when the disk was asked for", () => {
    // /dev/shm is a tmpfs on every Linux host this runs on.
    const inMemory = fs.mkdtempSync("/dev/shm/nslab-layers-");
    dirs.push(inMemory);
    const storage = openLayerStorage({ dataDir: inMemory, layerBytes: 16 * MiB, layerInodes: 4096, setting: "auto" });
    expect(storage).toEqual({ mode: "tmpfs", reason: expect.stringContaining(`the data directory ${inMemory} is in memory (tmpfs)`) });
    expect(fs.existsSync(path.join(inMemory, "layers"))).toBe(false);
    expect(() => openLayerStorage({ dataDir: inMemory, layerBytes: 16 * MiB, layerInodes: 4096, setting: "disk" })).toThrow(/^NSLAB_LAYER_STORAGE=disk, but the data directory .* is in memory/);
    expect(openLayerStorage({ dataDir: dataDir(), layerBytes: 16 * MiB, layerInodes: 4096, setting: "tmpfs" })).toEqual({ mode: "tmpfs", reason: "NSLAB_LAYER_STORAGE=tmpfs" });
  });

  it("counts every sandbox's layer, full, against what is free on the data directory's filesystem", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "nslab-layer-space-"));
    try {
      const st = fs.statfsSync(dir);
      const space = layerDiskSpace(path.join(dir, "not-made-yet"), 50, 256 * 2 ** 20, 65536);
      expect(space.neededBytes).toBe(50 * imageBytes(256 * 2 ** 20, 65536));
      expect(space.neededBytes).toBeGreaterThan(50 * 256 * 2 ** 20);
      // The same filesystem's free blocks, give or take what other tests write meanwhile.
      expect(Math.abs(space.freeBytes - Number(st.bavail) * Number(st.bsize))).toBeLessThan(2 ** 30);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("sizes /dev/shm at most a quarter of the memory limit on disk, and tmpfs layers to three quarters in all", () => {
    const configured = { layerBytes: 256 * MiB, layerInodes: 65536, tmpBytes: 64 * MiB };
    expect(layerSizes("disk", configured, 256 * MiB)).toEqual({ tmpfs: null, shmBytes: 64 * MiB });
    expect(layerSizes("disk", configured, 64 * MiB)).toEqual({ tmpfs: null, shmBytes: 16 * MiB });
    expect(layerSizes("tmpfs", configured, 64 * MiB)).toEqual({ tmpfs: { layerBytes: 32 * MiB, layerInodes: 65536, tmpBytes: 8 * MiB }, shmBytes: 8 * MiB });
    // The configured sizes when they are the smaller; never below the launcher's 1 MiB.
    expect(layerSizes("tmpfs", { layerBytes: 8 * MiB, layerInodes: 4096, tmpBytes: 4 * MiB }, 4096 * MiB)).toEqual({ tmpfs: { layerBytes: 8 * MiB, layerInodes: 4096, tmpBytes: 4 * MiB }, shmBytes: 4 * MiB });
    expect(layerSizes("tmpfs", configured, 6 * MiB).shmBytes).toBe(1 * MiB);
  });
});

describe.skipIf(sandboxUnavailable() !== null || support.mode !== "disk")("a host's start-up with layers on disk", () => {
  const runDir = `/run/nslab-test-layers-${process.pid}`;
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "nslab-layers-host-"));
  const found = hostCgroupDriver(`/nslab-test-layers-${process.pid}`);
  afterAll(() => {
    if ("driver" in found) for (const parent of Object.values(found.driver.parents)) if (fs.existsSync(parent)) fs.rmdirSync(parent);
    fs.rmSync(runDir, { recursive: true, force: true });
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it("removes the images a killed run left (no live session claims them), and nothing else", async () => {
    if (!("driver" in found)) throw new Error(found.reason);
    const host = new SandboxHost(found.driver, { ...testHostOptions(runDir), dataDir, layerStorage: "disk", spawnerPath: null });
    try {
      if (host.layers.mode !== "disk") throw new Error(host.layers.reason);
      const stray = layerImageOf(host.layers.dir, "00112233445566aa");
      await writeLayerImage(stray, host.layers.template, false);
      expect(listLayerImages(host.layers.dir)).toEqual(["00112233445566aa"]);
      await host.cleanupLeftovers();
      expect(listLayerImages(host.layers.dir)).toEqual([]);
      // The template stays.
      expect(fs.readdirSync(host.layers.dir).filter((name) => name.startsWith(".template-"))).toHaveLength(1);
    } finally {
      await host.close();
    }
  });
});
