// Where a sandbox's writable layer lives, and how big its memory-backed mounts may be.
//
// On disk ("disk"): each session gets an ext4 image of its own, `<NSLAB_DATA_DIR>/layers/<id>.img`,
// sparse (it costs the disk only what the learner writes), sized in bytes and inodes to the
// layer's limits. It is attached to a loop device and mounted by the spawner while the sandbox
// is prepared (a detached mount the server holds, handed to the launcher as --layer-fd), or by
// the launcher itself (--layer-image) where there is no spawner; /tmp is a directory of it. Filling it ends in "No space left on device" at its size: its
// pages are page cache, which the kernel writes back and reclaims, where a tmpfs layer's pages
// were charged to the memory limit and never reclaimable, so a learner's `dd` met the OOM killer
// before the layer was full.
//
// Why one filesystem per session, not one shared ext4 or XFS with a project quota per session
// (Docker's overlay2 `--storage-opt size=`): quotas need CONFIG_QFMT_V2 (ext4) or
// CONFIG_XFS_QUOTA, and kernels built without them (this project's build hosts among them)
// refuse a quota mount outright. An image per session needs only loop devices and ext4, bounds
// inodes as well as bytes, and leaves nothing mounted on the host: the mount is detached, or in
// the launcher's own mount namespace, and the loop device detaches itself when it goes.
//
// The image is not made by mkfs for each session (a process per start would slow every start):
// mkfs.ext4 runs once per layer size, the first time a server or `nslab run` needs it, and what
// it wrote (some 200 KiB of metadata in a file of hundreds of MiB of holes) is kept as a
// "template": the non-zero parts and their offsets. A session's image is that template written
// into a new sparse file — an open, a truncate, a few writes. Every session's filesystem has the
// template's UUID; nothing on the host looks filesystems up by it.
//
// In a tmpfs ("tmpfs"), where the host has no loop devices or no ext4 (a container without
// /dev/loop-control), or the data directory is itself in memory: the layer, /tmp and /dev/shm
// are tmpfs mounts, and their sizes together are held to 3/4 of the memory limit (layer ½, /tmp
// and /dev/shm ⅛ each), so that filling all three ends in ENOSPC with a quarter of the limit
// left for the learner's programs. /dev/shm is a tmpfs either way (POSIX shared memory is memory,
// as in Docker), at most a quarter of the memory limit.
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";

/** Bumped when the images' layout or mkfs options change: older templates are then made again. */
const TEMPLATE_FORMAT = 1;
const BLOCK = 4096;
/** ext4's inode size (256: nanosecond and post-2038 timestamps). */
const INODE_BYTES = 256;
/** One block of bitmap per group: at most this many blocks, and inodes, in a group. */
const PER_GROUP_MAX = 8 * BLOCK;
const ZERO_BLOCK = Buffer.alloc(BLOCK);
const TMPFS_MAGIC = 0x01021994;
const RAMFS_MAGIC = 0x858458f6;
const MKFS_CANDIDATES = ["/usr/sbin/mkfs.ext4", "/sbin/mkfs.ext4"];
// (Typed loosely: Next's global types make NODE_ENV a required key of ProcessEnv.)
const MKFS_ENV = { PATH: "/usr/sbin:/usr/bin:/sbin:/bin" } as unknown as NodeJS.ProcessEnv;

export type LayerMode = "disk" | "tmpfs";
/** NSLAB_LAYER_STORAGE: "auto" takes the disk where the host allows it. */
export type LayerStorageSetting = LayerMode | "auto";

/** Whether writable layers can go on disk here, and why not, without changing anything. */
export type LayerSupport = { mode: "disk"; mkfs: string } | { mode: "tmpfs"; reason: string };

/** A template: the non-zero parts of a freshly made image of `imageBytes`. */
export interface LayerTemplate {
  imageBytes: number;
  segments: Array<{ offset: number; data: Buffer }>;
}

export type LayerStorage =
  | { mode: "disk"; dir: string; template: LayerTemplate; layerBytes: number; layerInodes: number }
  | { mode: "tmpfs"; reason: string };

/** What the launcher mounts for one sandbox. */
export interface LayerSizes {
  /** The tmpfs layer and /tmp; null on a disk layer (the image bounds both). */
  tmpfs: { layerBytes: number; layerInodes: number; tmpBytes: number } | null;
  shmBytes: number;
}

function readOr(file: string): string {
  try {
    return fs.readFileSync(file, "utf8");
  } catch {
    return "";
  }
}

/** The nearest directory of `dir` that exists (the data directory may not be made yet). */
function existingAncestor(dir: string): string {
  let at = dir;
  while (!fs.existsSync(at) && path.dirname(at) !== at) at = path.dirname(at);
  return at;
}

/** Can layers go on disk under `dataDir`? Reads only: nslab doctor asks it too. */
export function layerSupport(dataDir: string): LayerSupport {
  let control: fs.Stats | null = null;
  try {
    control = fs.statSync("/dev/loop-control");
    fs.accessSync("/dev/loop-control", fs.constants.R_OK | fs.constants.W_OK);
  } catch {
    control = null;
  }
  if (!control?.isCharacterDevice()) return { mode: "tmpfs", reason: "no usable /dev/loop-control (loop devices: modprobe loop, or give the container /dev/loop-control and /dev/loop*)" };
  if (!/\bext4$/m.test(readOr("/proc/filesystems"))) return { mode: "tmpfs", reason: "the kernel has no ext4 (modprobe ext4)" };
  const mkfs = MKFS_CANDIDATES.find((file) => fs.existsSync(file));
  if (!mkfs) return { mode: "tmpfs", reason: "mkfs.ext4 is not installed (apt-get install e2fsprogs)" };
  const type = Number(fs.statfsSync(existingAncestor(dataDir)).type);
  if (type === TMPFS_MAGIC || type === RAMFS_MAGIC) return { mode: "tmpfs", reason: `the data directory ${dataDir} is in memory (tmpfs); set NSLAB_DATA_DIR to a directory on disk` };
  return { mode: "disk", mkfs };
}

/** An image's size: the layer's bytes, its inode tables, and room for ext4's own metadata, so
 *  that about `layerBytes` are free for the learner. */
export function imageBytes(layerBytes: number, layerInodes: number): number {
  const bytes = layerBytes + layerInodes * INODE_BYTES + (1 << 20) + Math.ceil(layerBytes / 256);
  return Math.ceil(bytes / BLOCK) * BLOCK;
}

/** Inodes in each sandbox's writable layer (the server's setting): millions of files end in
 *  ENOSPC at this. */
export const LAYER_INODES = 65536;

/** What the layers of `maxSessions` full sandboxes take on the data directory's filesystem,
 *  against what is free there. The images are sparse, so this is the worst case (every
 *  learner filling their layer), which is what one client holding a few sandboxes and `dd`
 *  can make happen: a full disk then takes the database in the same directory down too. */
export function layerDiskSpace(dataDir: string, maxSessions: number, layerBytes: number, layerInodes: number): { neededBytes: number; freeBytes: number } {
  const st = fs.statfsSync(existingAncestor(dataDir));
  return { neededBytes: maxSessions * imageBytes(layerBytes, layerInodes), freeBytes: Number(st.bavail) * Number(st.bsize) };
}

/** mkfs.ext4's options for a layer: no journal (the layer lives as long as its session, and a
 *  crash ends that anyway), no reserved blocks or room to grow, the inodes asked for. A small
 *  layer with many inodes needs more, smaller block groups: each holds at most 32768 inodes. */
export function mkfsArgs(layerBytes: number, layerInodes: number, file: string): string[] {
  const blocks = imageBytes(layerBytes, layerInodes) / BLOCK;
  const groups = Math.max(Math.ceil(blocks / PER_GROUP_MAX), Math.ceil(layerInodes / PER_GROUP_MAX));
  const perGroup = Math.min(PER_GROUP_MAX, Math.floor(blocks / groups / 8) * 8);
  if (perGroup < 256) throw new Error(`a ${layerBytes}-byte layer cannot hold ${layerInodes} inodes; lower the inode count`);
  return ["-q", "-F", "-t", "ext4", "-b", String(BLOCK), "-I", String(INODE_BYTES), "-m", "0", "-N", String(layerInodes), "-g", String(perGroup),
    "-O", "^has_journal,^resize_inode", "-E", "lazy_itable_init=1,nodiscard", file];
}

/** The non-zero blocks of an image, merged into runs. */
export function templateOf(image: string): LayerTemplate {
  const fd = fs.openSync(image, "r");
  try {
    const size = fs.fstatSync(fd).size;
    const segments: LayerTemplate["segments"] = [];
    const chunk = Buffer.alloc(1 << 20);
    const zeroChunk = Buffer.alloc(chunk.length);
    let run: { offset: number; parts: Buffer[] } | null = null;
    for (let at = 0; at < size; at += chunk.length) {
      const n = fs.readSync(fd, chunk, 0, chunk.length, at);
      // Most of an image is holes: a whole chunk of zeros is one comparison.
      if (n === chunk.length && chunk.equals(zeroChunk)) {
        if (run) segments.push({ offset: run.offset, data: Buffer.concat(run.parts) });
        run = null;
        continue;
      }
      for (let b = 0; b < n; b += BLOCK) {
        const block = chunk.subarray(b, Math.min(b + BLOCK, n));
        const zero = block.equals(ZERO_BLOCK.subarray(0, block.length));
        if (!zero) {
          run ??= { offset: at + b, parts: [] };
          run.parts.push(Buffer.from(block));
        } else if (run) {
          segments.push({ offset: run.offset, data: Buffer.concat(run.parts) });
          run = null;
        }
      }
    }
    if (run) segments.push({ offset: run.offset, data: Buffer.concat(run.parts) });
    return { imageBytes: size, segments };
  } finally {
    fs.closeSync(fd);
  }
}

/** A template as a file: one JSON line (size, offsets, lengths), then the data. */
function encodeTemplate(template: LayerTemplate): Buffer {
  const header = { format: TEMPLATE_FORMAT, imageBytes: template.imageBytes, segments: template.segments.map((s) => [s.offset, s.data.length]) };
  return Buffer.concat([Buffer.from(`${JSON.stringify(header)}\n`), ...template.segments.map((s) => s.data)]);
}

function decodeTemplate(bytes: Buffer): LayerTemplate | null {
  const newline = bytes.indexOf(10);
  if (newline < 0) return null;
  try {
    const header = JSON.parse(bytes.subarray(0, newline).toString("utf8")) as { format?: unknown; imageBytes?: unknown; segments?: unknown };
    if (header.format !== TEMPLATE_FORMAT || typeof header.imageBytes !== "number" || !Array.isArray(header.segments)) return null;
    let at = newline + 1;
    const segments: LayerTemplate["segments"] = [];
    for (const entry of header.segments as unknown[]) {
      const [offset, length] = entry as [number, number];
      if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || at + length > bytes.length) return null;
      segments.push({ offset, data: bytes.subarray(at, at + length) });
      at += length;
    }
    return at === bytes.length ? { imageBytes: header.imageBytes, segments } : null;
  } catch {
    return null;
  }
}

/** The layers' directory under the data directory: the images hold learners' files, so only root may enter. */
export function layersDirOf(dataDir: string): string {
  return path.join(dataDir, "layers");
}

/** Session images are named by session id; templates start with a dot. */
export function layerImageOf(layersDir: string, sessionId: string): string {
  return path.join(layersDir, `${sessionId}.img`);
}

/** The template for this layer size, made (with mkfs.ext4, once) if there is none yet. */
function loadTemplate(dir: string, mkfs: string, layerBytes: number, layerInodes: number): LayerTemplate {
  const file = path.join(dir, `.template-${layerBytes}-${layerInodes}-${TEMPLATE_FORMAT}`);
  try {
    const template = decodeTemplate(fs.readFileSync(file));
    if (template) return template;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
  }
  // Made under a name of this process's own and renamed into place whole: a server and an
  // `nslab run` making the same template at once each make a whole one.
  const scratch = `${file}.${process.pid}.img`;
  try {
    fs.writeFileSync(scratch, "", { mode: 0o600 });
    fs.truncateSync(scratch, imageBytes(layerBytes, layerInodes));
    // The one process spawned for layers: once per layer size, at the first start that needs it.
    execFileSync(mkfs, mkfsArgs(layerBytes, layerInodes, scratch), { stdio: ["ignore", "ignore", "pipe"], env: MKFS_ENV });
    const template = templateOf(scratch);
    fs.writeFileSync(`${file}.${process.pid}`, encodeTemplate(template), { mode: 0o600 });
    fs.renameSync(`${file}.${process.pid}`, file);
    return template;
  } finally {
    fs.rmSync(scratch, { force: true });
  }
}

/**
 * Decide where this host's layers go and prepare for it: the layers' directory (0700) and the
 * template for this layer size. `setting` "disk" throws when the host cannot; "auto" falls back
 * to tmpfs with the reason, for the server to log once and `nslab doctor` to show.
 */
export function openLayerStorage(options: { dataDir: string; layerBytes: number; layerInodes: number; setting: LayerStorageSetting }): LayerStorage {
  if (options.setting === "tmpfs") return { mode: "tmpfs", reason: "NSLAB_LAYER_STORAGE=tmpfs" };
  const support = layerSupport(options.dataDir);
  let failure = support.mode === "tmpfs" ? support.reason : "";
  if (support.mode === "disk") {
    const dir = layersDirOf(options.dataDir);
    try {
      fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
      fs.chmodSync(dir, 0o700);
      const template = loadTemplate(dir, support.mkfs, options.layerBytes, options.layerInodes);
      return { mode: "disk", dir, template, layerBytes: options.layerBytes, layerInodes: options.layerInodes };
    } catch (err) {
      failure = `cannot make the layers' ext4 template in ${dir}: ${(err as Error).message.split("\n")[0]}`;
    }
  }
  if (options.setting === "disk") throw new Error(`NSLAB_LAYER_STORAGE=disk, but ${failure}`);
  return { mode: "tmpfs", reason: failure };
}

/** A page-aligned fraction of the memory limit, at least 1 MiB (the launcher's least). */
function fractionOf(memoryBytes: number, divisor: number): number {
  return Math.max(1 << 20, Math.floor(memoryBytes / divisor / BLOCK) * BLOCK);
}

/** The sizes the launcher mounts with, for a sandbox starting under `memoryBytes`. */
export function layerSizes(mode: LayerMode, configured: { layerBytes: number; layerInodes: number; tmpBytes: number }, memoryBytes: number): LayerSizes {
  const shmBytes = Math.min(configured.tmpBytes, fractionOf(memoryBytes, mode === "disk" ? 4 : 8));
  if (mode === "disk") return { tmpfs: null, shmBytes };
  return {
    tmpfs: {
      layerBytes: Math.min(configured.layerBytes, fractionOf(memoryBytes, 2)),
      layerInodes: configured.layerInodes,
      tmpBytes: Math.min(configured.tmpBytes, fractionOf(memoryBytes, 8)),
    },
    shmBytes,
  };
}

/** Write a session's image from the template: a sparse file the size of the image. At once
 *  (`nslab run`) or on the thread pool (the server, serving others meanwhile). On the thread
 *  pool it is written through to the disk, while the sandbox is prepared, ahead of its start:
 *  the loop device reads the image with direct I/O, and its mount's first reads would otherwise
 *  wait for these pages' writeback (about half the mount's time). At once, the mount follows
 *  straight away: those reads write back the pages they need themselves, and an fdatasync
 *  first would only add the host filesystem's journal commit to the start. */
export async function writeLayerImage(file: string, template: LayerTemplate, atOnce: boolean): Promise<void> {
  if (atOnce) {
    const fd = fs.openSync(file, "wx", 0o600);
    try {
      fs.ftruncateSync(fd, template.imageBytes);
      for (const s of template.segments) fs.writeSync(fd, s.data, 0, s.data.length, s.offset);
    } finally {
      fs.closeSync(fd);
    }
    return;
  }
  const handle = await fs.promises.open(file, "wx", 0o600);
  try {
    await handle.truncate(template.imageBytes);
    for (const s of template.segments) await handle.write(s.data, 0, s.data.length, s.offset);
    await handle.datasync();
  } finally {
    await handle.close();
  }
}

/** Remove a session's image, off the event loop (a full one is hundreds of MiB of extents to
 *  free), or at once in a process with nothing else to serve (`nslab run`, which exits next:
 *  a first use of the promise API and a thread-pool round trip cost it some 3 ms). Content
 *  with one already gone. */
export async function removeLayerImage(file: string, atOnce: boolean): Promise<void> {
  if (!atOnce) return fs.promises.rm(file, { force: true });
  try {
    fs.unlinkSync(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
  }
}

/** The session ids of the images in the layers' directory. */
export function listLayerImages(dir: string): string[] {
  try {
    return fs.readdirSync(dir).filter((name) => /^[0-9a-f]+\.img$/.test(name)).map((name) => name.slice(0, -".img".length));
  } catch {
    return [];
  }
}
