// Reads of kernel pseudo-files (/proc, cgroupfs) for the probes and the cgroup-tree walker
// (server/kernel/cgroup-tree.ts). What the probes watch can
// disappear between two reads — a process exits, a learner removes a child cgroup, the session
// is torn down — so "it is gone" is an answer (null), never an exception. Any other error
// (EACCES, EIO, …) is a broken assumption about the host and is thrown.
import fs from "node:fs";
import path from "node:path";

/**
 * errno codes that mean the object went away: ENOENT for a missing /proc/<pid> or cgroup file,
 * ESRCH for a task that exited while its /proc entry was open, ENODEV for a cgroup file read
 * while its cgroup is being removed. ENAMETOOLONG counts too: a learner can nest cgroups deeper
 * than PATH_MAX, and what lies past it is out of the probes' reach, like something gone.
 */
const GONE_CODES = new Set(["ENOENT", "ESRCH", "ENODEV", "ENAMETOOLONG"]);

export function isGoneError(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  return typeof code === "string" && GONE_CODES.has(code);
}

/** The file's text, or null when it (or what it describes) no longer exists. */
export function readKernelFile(file: string): string | null {
  try {
    return fs.readFileSync(file, "utf8");
  } catch (err) {
    if (isGoneError(err)) return null;
    throw err;
  }
}

/** A symlink's target (e.g. "net:[4026531840]" for /proc/<pid>/ns/net), or null when gone. */
export function readKernelLink(link: string): string | null {
  try {
    return fs.readlinkSync(link);
  } catch (err) {
    if (isGoneError(err)) return null;
    throw err;
  }
}

/** Never kept, whatever the filesystem: */
const NEVER_KEPT = new Set(["cgroup.procs", "tasks", "cgroup.threads"]);

/** statfs(2) magic numbers of the filesystems whose files are kept open: cgroupfs, where each
 *  read at offset 0 makes the kernel generate the text again. Not procfs: a kept
 *  /proc/<pid>/status would hold a descriptor per process a learner ever ran (a fork loop
 *  would push the sessions' counters out of the cache), and is read only on full readings. */
const KEPT_FS_MAGIC = new Set([
  0x27e0eb, // CGROUP_SUPER_MAGIC (v1)
  0x63677270, // CGROUP2_SUPER_MAGIC
]);

/** A first read shorter than this is the whole file (see KernelFileCache.readAll). */
const SHORT_READ_END_BYTES = 3072;

/** The soft limit on open descriptors of this process (Node raises it to the hard limit at
 *  start), from /proc/self/limits; 1024 when it cannot be read. */
function openFileLimit(): number {
  const limits = readKernelFile("/proc/self/limits") ?? "";
  const soft = Number(/^Max open files\s+(\d+)/m.exec(limits)?.[1]);
  return Number.isFinite(soft) && soft > 0 ? soft : 1024;
}

/**
 * Kernel files read again and again — a session's change detectors (probe-snapshot.ts) and,
 * while it is busy and watched, its counters, ten times a second — kept open and re-read with pread at offset 0: one syscall instead of open, fstat, read and close
 * (≈ 5 µs instead of ≈ 14 µs a file here). Only files of cgroupfs are kept (a regular file
 * replaced by rename would go on reading the old one; procfs, see KEPT_FS_MAGIC); paths
 * through /proc/self/fd/N (the tree walker's) never are, as N is only good for one walk.
 * Everything else is read as readKernelFile reads it.
 *
 * Gone is still null: a kept descriptor of a removed cgroup reads ENODEV, and is then closed
 * and the path opened afresh, so a cgroup made again under the same name is read as what it
 * is now.
 *
 * Bounded: at most `maxOpen` descriptors, the least recently read closed first, so that a host
 * full of sessions never runs out of descriptors for its sockets and terminals.
 */
export class KernelFileCache {
  private readonly open = new Map<string, number>();
  /** The kept files of each directory, so that a session's go with it in time proportional to
   *  them, not to everything kept (a thousand sessions end at once when a class does). */
  private readonly byDir = new Map<string, Set<string>>();
  /** Whether a directory's files are on a filesystem whose files are kept (see keepable). */
  private readonly keptFs = new Map<string, boolean>();
  private buffer = Buffer.allocUnsafe(16 * 1024);

  constructor(readonly maxOpen = Math.max(64, Math.min(4096, Math.floor(openFileLimit() / 4)))) {}

  /** Descriptors held now. */
  get size(): number {
    return this.open.size;
  }

  /** The file's text, or null when it (or what it describes) no longer exists. */
  read(file: string): string | null {
    if (file.startsWith("/proc/self/")) return readKernelFile(file);
    const held = this.open.get(file);
    if (held !== undefined) {
      // Most recently read last: Map keeps insertion order, the oldest is evicted first.
      this.open.delete(file);
      this.open.set(file, held);
      try {
        return this.readAll(held);
      } catch (err) {
        this.close(file);
        if (!isGoneError(err)) throw err;
        // Stale: the cgroup or process it was opened for is gone. Try the path as it is now.
      }
    }
    let fd: number;
    try {
      // libuv opens every file close-on-exec: no program started later inherits these.
      fd = fs.openSync(file, fs.constants.O_RDONLY);
    } catch (err) {
      if (isGoneError(err)) return null;
      throw err;
    }
    let text: string;
    try {
      text = this.readAll(fd);
    } catch (err) {
      fs.closeSync(fd);
      if (isGoneError(err)) return null;
      throw err;
    }
    if (this.keepable(file)) this.keep(file, fd);
    else fs.closeSync(fd);
    return text;
  }

  /** Close every descriptor of a file in `dir` itself (a session's cgroup going away: the
   *  files of its child cgroups are read through the walker's paths, which are never kept). */
  forget(dir: string): void {
    const resolved = path.resolve(dir);
    for (const file of [...(this.byDir.get(resolved) ?? [])]) this.close(file);
    this.keptFs.delete(resolved);
  }

  /** Close everything. */
  clear(): void {
    for (const file of [...this.open.keys()]) this.close(file);
  }

  private keepable(file: string): boolean {
    // cgroup v1 builds a cgroup's process list once per open file and serves that same list to
    // every later read of the descriptor while reads keep it alive (cgroup_pidlist_start): a
    // kept cgroup.procs would never show a new process. These are always opened afresh.
    if (NEVER_KEPT.has(path.basename(file))) return false;
    // The filesystem is asked once per directory (a file evicted and opened again costs no
    // statfs), and forgotten with the directory.
    const dir = path.dirname(path.resolve(file));
    let kept = this.keptFs.get(dir);
    if (kept === undefined) {
      try {
        kept = KEPT_FS_MAGIC.has(Number(fs.statfsSync(dir).type));
      } catch {
        return false;
      }
      this.keptFs.set(dir, kept);
    }
    return kept;
  }

  private keep(file: string, fd: number): void {
    this.open.set(file, fd);
    const dir = path.dirname(path.resolve(file));
    let files = this.byDir.get(dir);
    if (!files) this.byDir.set(dir, (files = new Set()));
    files.add(file);
    while (this.open.size > this.maxOpen) {
      const oldest = this.open.keys().next().value;
      if (oldest === undefined) break;
      this.close(oldest);
    }
  }

  private close(file: string): void {
    const fd = this.open.get(file);
    if (fd === undefined) return;
    this.open.delete(file);
    const dir = path.dirname(path.resolve(file));
    const files = this.byDir.get(dir);
    files?.delete(file);
    if (files?.size === 0) this.byDir.delete(dir);
    fs.closeSync(fd);
  }

  /**
   * The whole text from offset 0. A kernel file may come in several reads: a seq_file hands out
   * at most a page (4 KiB) per read, whole records only, so a read that ends short of
   * SHORT_READ_END_BYTES left room for any record the probes read (a line of cgroup.procs or
   * of a status file, well under 1 KiB) and is the end; a longer one is followed by more reads
   * until one returns nothing. The counters the probes re-read ten times a second take one
   * read.
   */
  private readAll(fd: number): string {
    let length = 0;
    for (;;) {
      if (length === this.buffer.length) {
        if (this.buffer.length >= 4 * 1024 * 1024) throw new Error("a kernel file larger than 4 MiB");
        const larger = Buffer.allocUnsafe(this.buffer.length * 4);
        this.buffer.copy(larger, 0, 0, length);
        this.buffer = larger;
      }
      const n = fs.readSync(fd, this.buffer, length, this.buffer.length - length, length);
      length += n;
      if (n === 0 || (length === n && n < SHORT_READ_END_BYTES)) return this.buffer.toString("utf8", 0, length);
    }
  }
}

/** The probes' one cache. Its bound is for the whole server, not per session: with a thousand
 *  sessions, the files of full readings (read seldom) are the ones evicted, the change
 *  detectors (read every second or more) the ones kept. */
export const kernelFiles = new KernelFileCache();
