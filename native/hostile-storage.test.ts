// The hostile suite's storage part: a learner who fills the disk, /tmp or /dev/shm, or makes
// millions of files, gets "No space left on device" at the layer's size and inode count, never
// the OOM killer, and each session's layer is its own and gone with it (server/sandbox/
// layer-disk.ts). And the image holds no setuid file and no hard link to the host's.
// Through `nslab run`, as a lab session builds the sandbox.
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

import { afterEach, describe, expect, it } from "vitest";

import { layerSupport, layersDirOf, listLayerImages } from "../server/sandbox/layer-disk";
import { PROJECT_ROOT, ROOTFS } from "../server/testing/kernel";
import { CGROUP_V1, MiB, V1_ONLY, checkHostAfterEachTest, itOnV1, lines, nslabRun, sandboxSh, unavailable } from "./hostile-harness";
import type { RunResult } from "./hostile-harness";

const DATA_DIR = process.env.NSLAB_DATA_DIR ?? "/var/lib/nslab";
const LAYERS_DIR = layersDirOf(DATA_DIR);
const support = layerSupport(DATA_DIR);
// Under CI this machine must keep layers on disk: a run that fell back to tmpfs tests nothing.
if (process.env.CI === "true" && unavailable === null && support.mode !== "disk") {
  throw new Error(`CI: writable layers cannot go on disk here: ${support.reason}`);
}
const onDisk = unavailable === null && support.mode === "disk";
/** Written for cgroup v1's counters (memory.oom_control, memory.stat), and for layers on disk. */
const itOnDisk = (name: string, fn: () => Promise<void>, timeout?: number) =>
  it.skipIf(!onDisk || !CGROUP_V1)(
    !CGROUP_V1 ? `${name}${V1_ONLY}` : onDisk ? name : `${name} (skipped: layers cannot go on disk here: ${support.mode === "tmpfs" ? support.reason : ""})`,
    fn,
    timeout,
  );

/** The layer images of a session, by the session-id prefix its hostname carries. */
function imagesOf(hostname: string | null): string[] {
  const prefix = (hostname ?? "none").slice("lab-".length);
  return listLayerImages(LAYERS_DIR).filter((id) => id.startsWith(prefix));
}

/** A named pipe as a sandbox's stdin, so a test decides when the session goes on. */
function fifo(): { fd: number; go(): void; remove(): void } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "nslab-storage-"));
  const file = path.join(dir, "go");
  execFileSync("mkfifo", [file]);
  // Read and write: opening it never blocks, and the sandbox sees no end of input until told.
  const fd = fs.openSync(file, "r+");
  return {
    fd,
    go: () => fs.writeSync(fd, "go\n"),
    remove: () => {
      fs.closeSync(fd);
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Memory counters of the sandbox's own cgroup (v1), as shell lines printing "name value". */
const MEMORY_COUNTERS = `grep -E '^(oom_kill) ' /sys/fs/cgroup/memory/memory.oom_control
       grep -E '^(shmem) ' /sys/fs/cgroup/memory/memory.stat`;

function counters(run: RunResult): Record<string, number> {
  return Object.fromEntries(lines(run.stdout).flatMap((l) => (/^(oom_kill|shmem) (\d+)$/.exec(l) ? [[l.split(" ")[0], Number(l.split(" ")[1])]] : [])));
}

describe.skipIf(unavailable !== null)(`a learner filling the sandbox's storage through nslab run${unavailable ? ` (skipped: ${unavailable})` : ""}`, () => {
  checkHostAfterEachTest();
  const sessions: Array<string | null> = [];
  afterEach(() => {
    for (const hostname of sessions.splice(0)) expect(imagesOf(hostname), `layer images of ${hostname} left behind`).toEqual([]);
  });

  itOnDisk("filling / and then /tmp under the default 256 MiB memory limit ends in ENOSPC at about the 256 MiB layer, with no OOM kill and the memory still there for programs", async () => {
    const run = await sandboxSh(
      `dd if=/dev/zero of=/big bs=1M 2>&1 | grep -o 'No space left on device'; stat -c "big %s" /big
       ${MEMORY_COUNTERS}
       rm /big
       dd if=/dev/zero of=/tmp/big bs=1M 2>&1 | grep -o 'No space left on device'; stat -c "tmp %s" /tmp/big
       ${MEMORY_COUNTERS}
       head -c 128m /dev/zero | tail -n 1 | wc -c
       echo "shell alive"`,
      { timeoutMs: 120_000 },
    );
    sessions.push(run.hostname);
    expect(run.status).toBe(0);
    const out = lines(run.stdout);
    expect(out.filter((l) => l === "No space left on device")).toHaveLength(2);
    for (const name of ["big", "tmp"]) {
      const size = Number(out.find((l) => l.startsWith(`${name} `))?.split(" ")[1]);
      expect(size, `${name}'s size at ENOSPC`).toBeGreaterThan(248 * MiB);
      expect(size, `${name}'s size at ENOSPC`).toBeLessThanOrEqual(258 * MiB);
    }
    // The files are on disk, not in the cgroup's memory as tmpfs (shmem) pages: no OOM kill,
    // and a program can still take half the limit at once afterwards.
    const { oom_kill, shmem } = counters(run);
    expect(oom_kill).toBe(0);
    expect(shmem).toBeLessThan(8 * MiB);
    expect(out.slice(-2)).toEqual([String(128 * MiB), "shell alive"]);
  }, 150_000);

  itOnDisk("a smaller layer stops at its own size, and /tmp counts against it", async () => {
    const run = await sandboxSh(
      `dd if=/dev/zero of=/root/fill bs=1M count=8 2>/dev/null; echo "root dd $?"
       dd if=/dev/zero of=/tmp/fill bs=1M count=64 2>&1 | grep -o 'No space left on device'
       stat -c %s /root/fill /tmp/fill`,
      { env: { NSLAB_LAYER_BYTES: String(16 * MiB) } },
    );
    sessions.push(run.hostname);
    expect(run.status).toBe(0);
    const [rootDd, enospc, rootSize, tmpSize] = lines(run.stdout);
    expect([rootDd, enospc, rootSize]).toEqual(["root dd 0", "No space left on device", String(8 * MiB)]);
    // What /root holds is gone from /tmp's room: one layer for both.
    expect(Number(tmpSize)).toBeGreaterThan(6 * MiB);
    expect(Number(tmpSize)).toBeLessThanOrEqual(9 * MiB);
    expect(fs.existsSync(path.join(ROOTFS, "root", "fill"))).toBe(false);
  });

  itOnDisk("millions of files end in ENOSPC at the layer's inode count, and at /dev/shm's", async () => {
    const run = await sandboxSh(
      `cd /dev/shm && bash -c 'touch f{1..17000}' 2>&1 | head -n 1
       ls -f /dev/shm | wc -l
       mkdir /root/many && cd /root/many && bash -c 'touch f{1..70000}' 2>&1 | head -n 1
       touch /tmp/one-more 2>&1
       ls -f /root/many | wc -l
       df --output=ipcent,target / /dev/shm | tail -n 2`,
      { timeoutMs: 90_000 },
    );
    sessions.push(run.hostname);
    expect(run.status).toBe(0);
    const out = lines(run.stdout);
    expect(out[0]).toMatch(/^touch: cannot touch 'f\d+': No space left on device$/);
    expect(Number(out[1])).toBeLessThan(16384 + 2); // the 16384-inode /dev/shm, with . and ..
    expect(out[2]).toMatch(/^touch: cannot touch 'f\d+': No space left on device$/);
    expect(out[3]).toBe("touch: cannot touch '/tmp/one-more': No space left on device");
    // The 65536 inodes of the default layer, less the few the layer and overlay use.
    expect(Number(out[4])).toBeGreaterThan(65_000);
    expect(Number(out[4])).toBeLessThan(65_536 + 64);
    expect(out.slice(5).map((l) => l.trim().split(/\s+/).join(" "))).toEqual(["100% /", "100% /dev/shm"]);
  }, 120_000);

  itOnV1("filling /dev/shm under --memory 64m ends in ENOSPC at a quarter of the limit, not in the OOM killer", async () => {
    const run = await sandboxSh(
      `dd if=/dev/zero of=/dev/shm/fill bs=1M count=64 2>&1 | grep -o 'No space left on device'; echo "dd done"
       stat -c %s /dev/shm/fill
       ${MEMORY_COUNTERS}`,
      { flags: ["--memory", "64m"] },
    );
    sessions.push(run.hostname);
    expect(run.status).toBe(0);
    const out = lines(run.stdout);
    expect(out.slice(0, 3)).toEqual(["No space left on device", "dd done", String(16 * MiB)]);
    expect(counters(run).oom_kill).toBe(0);
  });

  itOnV1("with tmpfs layers (no disk), the layer, /tmp and /dev/shm under --memory 64m all end in ENOSPC before the OOM killer", async () => {
    const run = await sandboxSh(
      `for f in /root/fill /tmp/fill /dev/shm/fill; do dd if=/dev/zero of=$f bs=1M count=64 2>&1 | grep -o 'No space left on device'; done
       stat -c %s /root/fill /tmp/fill /dev/shm/fill
       ${MEMORY_COUNTERS}
       echo "shell alive"`,
      { flags: ["--memory", "64m"], env: { NSLAB_LAYER_STORAGE: "tmpfs" } },
    );
    sessions.push(run.hostname);
    expect(run.status).toBe(0);
    const out = lines(run.stdout);
    // Half, an eighth and an eighth of the limit: a quarter is left for programs.
    expect(out.slice(0, 6)).toEqual([
      "No space left on device", "No space left on device", "No space left on device",
      expect.stringMatching(/^\d+$/), String(8 * MiB), String(8 * MiB),
    ]);
    expect(Number(out[3])).toBeGreaterThan(30 * MiB);
    expect(Number(out[3])).toBeLessThanOrEqual(32 * MiB);
    expect(counters(run).oom_kill).toBe(0);
    expect(out.at(-1)).toBe("shell alive");
  });

  itOnDisk("two sessions' layers are their own: one full, the other still writes; each image is gone with its session", async () => {
    const hold = fifo();
    try {
      let fullSession: string | null = null;
      let reportFull: () => void = () => undefined;
      const filled = new Promise<void>((resolve) => (reportFull = resolve));
      const full = sandboxSh(
        `dd if=/dev/zero of=/fill bs=1M 2>&1 | grep -o 'No space left on device'; echo "full"
         read -r _; echo "still full: $(dd if=/dev/zero of=/more bs=1M count=1 2>&1 | grep -c 'No space left')"`,
        {
          env: { NSLAB_LAYER_BYTES: String(16 * MiB) },
          stdinFd: hold.fd,
          onStdout: (text) => {
            fullSession ??= /^@session (lab-[0-9a-f]{6}) /m.exec(text)?.[1] ?? null;
            if (/^full$/m.test(text)) reportFull();
          },
        },
      );
      await filled;
      expect(imagesOf(fullSession), "the full session's image while it runs").toHaveLength(1);
      const other = await sandboxSh("dd if=/dev/zero of=/root/f bs=1M count=8 2>/dev/null; echo \"dd $?\"; stat -c %s /root/f", {
        env: { NSLAB_LAYER_BYTES: String(16 * MiB) },
      });
      sessions.push(other.hostname);
      expect(other.status).toBe(0);
      expect(lines(other.stdout)).toEqual(["dd 0", String(8 * MiB)]);
      hold.go();
      const done = await full;
      sessions.push(done.hostname);
      expect(done.status).toBe(0);
      expect(lines(done.stdout)).toEqual(["No space left on device", "full", "still full: 1"]);
      expect(imagesOf(done.hostname), "the full session's image after it ended").toEqual([]);
    } finally {
      hold.remove();
    }
  }, 60_000);

  itOnDisk("the loop devices in /sys name no host path and no other session's image", async () => {
    const run = await sandboxSh(`cat /sys/block/loop*/loop/backing_file 2>/dev/null | sort -u; grep -rl '${DATA_DIR}' /sys/block/loop*/loop/ 2>/dev/null | wc -l`);
    sessions.push(run.hostname);
    expect(run.status).toBe(0);
    // This session's own is there (at least), as the root of a detached mount of its image.
    expect(lines(run.stdout)).toEqual(["/", "0"]);
  });

  itOnDisk("a disk layer still comes up where /dev has no loop device nodes (a container's /dev, copied when it started)", async () => {
    // As in a privileged container: /dev holds the devices that existed when it started, and a
    // loop device the kernel adds later has no node there. Here no loop node is there at all:
    // the launcher makes its own from /sys/block/loopN/dev.
    const nslab = path.join(PROJECT_ROOT, "bin", "nslab.mjs");
    const script = `set -e
      real=$(mktemp -d); mount --bind /dev "$real"
      mount -t tmpfs -o mode=755 nslab-test-dev /dev
      for n in null zero full random urandom tty ptmx loop-control; do touch /dev/$n; mount --bind "$real/$n" /dev/$n; done
      mkdir /dev/pts /dev/shm; mount --bind "$real/pts" /dev/pts
      umount -l "$real"; rmdir "$real"
      ls /dev | grep -c '^loop[0-9]' || true
      exec "${process.execPath}" "${nslab}" run -- sh -c 'echo "@session $HOSTNAME"; df -P / | tail -1'`;
    const out = execFileSync("unshare", ["--mount", "--propagation", "private", "sh", "-c", script], { cwd: PROJECT_ROOT, encoding: "utf8", timeout: 60_000 });
    const [loopNodes, session, df] = lines(out);
    expect(loopNodes).toBe("0");
    sessions.push(/^@session (lab-[0-9a-f]{6})$/.exec(session ?? "")?.[1] ?? null);
    // The layer's own size: a disk layer of 256 MiB, not a tmpfs fallback (half the memory limit).
    const sizeKiB = Number(df?.split(/\s+/)[1] ?? NaN);
    expect(sizeKiB * 1024).toBeGreaterThan(250 * MiB);
  });

  it("course: mount and umount work inside without setuid bits (the learner is root in the user namespace)", async () => {
    const run = await nslabRun(["sh", "-c", "mkdir /mnt/x && mount -t tmpfs -o size=1m t /mnt/x && echo mounted && umount /mnt/x && echo unmounted; stat -c %A /usr/bin/mount"]);
    expect(run.status).toBe(0);
    expect(lines(run.stdout)).toEqual(["mounted", "unmounted", "-rwxr-xr-x"]);
  });
});

describe(`the sandbox image (${ROOTFS})`, () => {
  it.skipIf(!fs.existsSync(path.join(ROOTFS, ".nslab-image")))("holds no setuid or setgid file, and no hard link to the host's setuid binaries", () => {
    const flagged: string[] = [];
    const walk = (dir: string) => {
      for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
        const file = path.join(dir, entry.name);
        if (entry.isDirectory()) walk(file);
        else if (entry.isFile() && fs.lstatSync(file).mode & 0o6000) flagged.push(file.slice(ROOTFS.length));
      }
    };
    walk(ROOTFS);
    expect(flagged).toEqual([]);
    for (const binary of ["/usr/bin/mount", "/usr/bin/umount", "/usr/bin/su"]) {
      const host = fs.statSync(binary);
      const image = fs.statSync(path.join(ROOTFS, binary));
      expect(host.mode & 0o4000, `${binary} on the host is setuid (what this test is about)`).toBe(0o4000);
      expect({ binary, sameInode: image.ino === host.ino && image.dev === host.dev }).toEqual({ binary, sameInode: false });
    }
  });

  it.skipIf(path.dirname(ROOTFS) !== "/var/lib/nslab")("lives in a data directory only root may enter", () => {
    expect((fs.statSync(path.dirname(ROOTFS)).mode & 0o777).toString(8)).toBe("700");
  });
});
