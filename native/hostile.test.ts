// The hostile suite: a learner who is root in their sandbox tries everything SECURITY.md lists
// under "What a learner will try", through `nslab run` exactly as a lab session builds it. Each
// test asserts what the sandbox answers (exit status, the kernel's own error text), that the
// host is unchanged, and that nothing of the session is left afterwards. The last group proves
// the course's own commands still work inside the same walls.
//
// Tools the image lacks (raw system calls, a thread bomb) come from native/hostile-probe.c,
// built statically here and piped into the sandbox on stdin, since no host path is visible
// inside.
import { execFileSync, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";

import { describe, expect, it } from "vitest";

import { removeCgroupTree } from "../server/kernel/cgroup-tree";
import { IDS_PER_SANDBOX, UID_BASE_START } from "../server/sandbox/uid-slots";
import { PROJECT_ROOT, ROOTFS } from "../server/testing/kernel";
import {
  CAPS_KEPT, CAPS_KEPT_MASK, ENV_ALLOW_LIST, INSTALL_PROBE, MiB, PREAMBLE, PROBE, RUN_DIR,
  checkHostAfterEachTest, hostDriver, hostPids, itOnV1, itOnV1WithProbe, itWithProbe, leftoversOf, lines, listOr,
  nslabRun, readOr, sandboxSh, unavailable,
} from "./hostile-harness";
import type { RunResult } from "./hostile-harness";

// ---------------------------------------------------------------------------------------------

describe.skipIf(unavailable !== null)(`a learner attacking the sandbox through nslab run${unavailable ? ` (skipped: ${unavailable})` : ""}`, () => {
  const host = checkHostAfterEachTest();

  // --- Exhausting the machine ------------------------------------------------------------------

  itOnV1("a shell fork bomb hits the pids limit, the bomb's shell ends with 'Cannot fork', and the sandbox's own shell carries on", async () => {
    // The classic loop: dash gives up at the first fork that fails (EAGAIN from the pids
    // controller), so the bomb ends by itself. What is left counts with shell builtins only.
    const run = await sandboxSh(
      `sh -c 'while :; do sleep 60 & done'; echo "bomb exited $?"
       read -r events < /sys/fs/cgroup/pids/pids.events
       read -r current < /sys/fs/cgroup/pids/pids.current
       n=0; for p in /proc/[0-9]*; do n=$((n+1)); done
       echo "$events; current $current; processes $n"`,
      { flags: ["--pids-limit", "20"] },
    );
    expect(run.status).toBe(0);
    expect(run.stderr).toContain("Cannot fork");
    expect(lines(run.stdout)).toEqual(["bomb exited 2", expect.stringMatching(/^max [1-9]\d*; current 19; processes 19$/)]);
    expect(leftoversOf(run)).toEqual([]);
  });

  itOnV1WithProbe("fork(2) until it fails: EAGAIN at the pids limit, and every later fork fails too", async () => {
    const run = await sandboxSh(`${INSTALL_PROBE}/tmp/probe forks; read -r c < /sys/fs/cgroup/pids/pids.current; echo "current $c"`, {
      flags: ["--pids-limit", "20"],
      stdin: PROBE ?? undefined,
    });
    expect(run.status).toBe(0);
    // sh and the probe are 2 of the 20; its 18 children stay behind for the teardown to kill.
    expect(lines(run.stdout)).toEqual(["forks: started 18; fork: Resource temporarily unavailable; 5 of 5 more failed", "current 19"]);
    expect(leftoversOf(run)).toEqual([]);
  });

  itWithProbe("a thread bomb stops at the pids limit with EAGAIN (threads count as tasks)", async () => {
    const run = await sandboxSh(`${INSTALL_PROBE}/tmp/probe threads`, { flags: ["--pids-limit", "20"], stdin: PROBE ?? undefined });
    expect(run.status).toBe(0);
    expect(lines(run.stdout)).toEqual(["threads: started 18; pthread_create: Resource temporarily unavailable"]);
    expect(leftoversOf(run)).toEqual([]);
  });

  itOnV1("a memory bomb is killed by the cgroup's OOM killer and counted; the shell survives", async () => {
    const run = await sandboxSh(
      `echo -1000 > /proc/self/oom_score_adj 2>/dev/null || echo "the bomb cannot exempt itself from the OOM killer"
       tail /dev/zero; echo "tail exited $?"
       grep '^oom_kill ' /sys/fs/cgroup/memory/memory.oom_control
       cat /sys/fs/cgroup/memory/memory.limit_in_bytes`,
      { flags: ["--memory", "32m"] },
    );
    expect(run.status).toBe(0);
    expect(lines(run.stdout)).toEqual([
      "the bomb cannot exempt itself from the OOM killer",
      "tail exited 137",
      "oom_kill 1",
      String(32 * MiB),
    ]);
    expect(leftoversOf(run)).toEqual([]);

    // As the command itself, the OOM kill is the sandbox's exit status: 128 + SIGKILL.
    const direct = await nslabRun(["sh", "-c", `${PREAMBLE}exec tail /dev/zero`], { flags: ["--memory", "32m"] });
    expect(direct.status).toBe(137);
  });

  // Filling the disk, /tmp and /dev/shm, and millions of files: native/hostile-storage.test.ts.

  itOnV1("a CPU hog is throttled to its quota (cpu.stat counts throttled periods)", async () => {
    const run = await sandboxSh(
      `cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us
       timeout 1 sh -c 'while :; do :; done'; echo "hog exited $?"
       grep -E '^nr_(periods|throttled) ' /sys/fs/cgroup/cpu/cpu.stat`,
      { flags: ["--cpus", "0.1"] },
    );
    expect(run.status).toBe(0);
    const out = lines(run.stdout);
    expect(out.slice(0, 2)).toEqual(["10000", "hog exited 124"]);
    const throttled = Number(/^nr_throttled (\d+)$/m.exec(run.stdout)?.[1]);
    expect(throttled).toBeGreaterThan(0);
    expect(leftoversOf(run)).toEqual([]);
  });

  it("a huge file stops at RLIMIT_FSIZE (1 GiB): SIGXFSZ, or EFBIG when the signal is ignored; the limit cannot be raised", async () => {
    const run = await nslabRun([
      "bash",
      "-c",
      `${PREAMBLE}ulimit -f
       ulimit -f unlimited
       dd if=/dev/zero of=/tmp/huge bs=1M seek=1023 count=2 2>/dev/null; echo "dd exited $?"
       stat -c %s /tmp/huge
       trap '' XFSZ
       truncate -s 2G /tmp/huge; echo "truncate exited $?"`,
    ]);
    expect(run.status).toBe(0);
    expect(lines(run.stdout)).toEqual([String(1024 * 1024) /* bash counts 1 KiB blocks */, "dd exited 153", String(1024 * MiB), "truncate exited 1"]);
    expect(run.stderr).toContain("ulimit: file size: cannot modify limit: Operation not permitted");
    expect(run.stderr).toContain("truncate: failed to truncate '/tmp/huge' at 2147483648 bytes: File too large");
    expect(leftoversOf(run)).toEqual([]);
  });

  it("open files stop at RLIMIT_NOFILE (1024) with EMFILE, and the limit cannot be raised", async () => {
    const run = await nslabRun([
      "bash",
      "-c",
      `${PREAMBLE}ulimit -n
       ulimit -n 4096
       n=0; while exec {fd}</dev/null; do n=$((n+1)); done; echo "opened $n more"`,
    ]);
    expect(run.status).toBe(0);
    const out = lines(run.stdout);
    expect(out[0]).toBe("1024");
    // 3 descriptors are open already, and bash keeps a few for itself.
    expect(Number(/^opened (\d+) more$/m.exec(out[1] ?? "")?.[1])).toBeGreaterThan(1000);
    expect(run.stderr).toMatch(/^bash: (line \d+: )?\/dev\/null: Too many open files$/m);
    expect(run.stderr).toContain("ulimit: open files: cannot modify limit: Operation not permitted");
    expect(leftoversOf(run)).toEqual([]);
  });

  itOnV1("processes left behind at exit (background, setsid, nohup, hidden in a child cgroup, ignoring signals) are all killed and the cgroups removed", async () => {
    // Durations no other test uses: test files run side by side, and theirs sleep 1000 too.
    const run = await sandboxSh(
      `sleep 7301 &
       setsid sleep 7302 &
       (sleep 7303 &)
       nohup sleep 7304 >/dev/null 2>&1 &
       mkdir /sys/fs/cgroup/pids/hide /sys/fs/cgroup/memory/hide
       sleep 7305 & echo $! > /sys/fs/cgroup/pids/hide/cgroup.procs; echo $! > /sys/fs/cgroup/memory/hide/cgroup.procs
       (trap '' HUP INT TERM; exec sleep 7306) &
       echo left`,
    );
    expect(run.status).toBe(0);
    expect(lines(run.stdout)).toEqual(["left"]);
    expect(leftoversOf(run)).toEqual([]);
    const sleepers = hostPids().filter((pid) => /^sleep\x0073\d\d\x00$/.test(readOr(`/proc/${pid}/cmdline`)));
    expect(sleepers).toEqual([]);
  });

  // --- The cgroup ------------------------------------------------------------------------------

  itOnV1("the learner cannot raise the session's limits or move out of its cgroup", async () => {
    const run = await sandboxSh(
      `for f in memory/memory.limit_in_bytes memory/memory.memsw.limit_in_bytes cpu/cpu.cfs_quota_us pids/pids.max; do
         echo -1 > /sys/fs/cgroup/$f 2>/dev/null || echo "$f: denied"
       done
       echo max > /sys/fs/cgroup/pids/pids.max
       echo $$ > /sys/fs/cgroup/memory/../cgroup.procs
       grep -E ':(memory|pids):' /proc/self/cgroup | cut -d: -f2,3 | sort
       mkdir -p /mnt/pids && mount -t cgroup -o pids cgroup /mnt/pids && cat /mnt/pids/pids.max
       cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/pids/pids.max`,
      { flags: ["--memory", "64m", "--pids-limit", "30"] },
    );
    expect(run.status).toBe(0);
    expect(run.stderr).toContain("cannot create /sys/fs/cgroup/pids/pids.max: Permission denied");
    expect(run.stderr).toContain("cannot create /sys/fs/cgroup/memory/../cgroup.procs: Read-only file system");
    expect(lines(run.stdout)).toEqual([
      "memory/memory.limit_in_bytes: denied",
      "memory/memory.memsw.limit_in_bytes: denied",
      "cpu/cpu.cfs_quota_us: denied",
      "pids/pids.max: denied",
      "memory:/", // the cgroup namespace: the session's cgroup is the root the learner sees
      "pids:/",
      "30", // a fresh mount of the hierarchy has the session's cgroup as its root, too
      String(64 * MiB),
      "30",
    ]);
    expect(leftoversOf(run)).toEqual([]);
  });

  itOnV1("release_agent is out of reach: not in the session's hierarchies, and no new hierarchy can be mounted (CVE-2022-0492)", async () => {
    const run = await sandboxSh(
      `ls /sys/fs/cgroup/*/release_agent 2>&1 | head -n 1
       echo 1 > /sys/fs/cgroup/memory/notify_on_release
       mkdir -p /mnt/cg
       mount -t cgroup -o none,name=nslab-escape cgroup /mnt/cg; echo "named hierarchy: $?"
       mount -t cgroup -o net_cls cgroup /mnt/cg; echo "unused controller: $?"
       unshare -UrmC sh -c 'mount -t cgroup -o none,name=nslab-escape cgroup /mnt/cg; echo "from a nested user namespace: $?"'`,
    );
    expect(run.status).toBe(0);
    expect(lines(run.stdout)).toEqual([
      "ls: cannot access '/sys/fs/cgroup/*/release_agent': No such file or directory",
      "named hierarchy: 32",
      "unused controller: 32",
      "from a nested user namespace: 32",
    ]);
    expect(run.stderr).toContain("cannot create /sys/fs/cgroup/memory/notify_on_release: Permission denied");
    expect(run.stderr.match(/mount: \/mnt\/cg: permission denied\./g)).toHaveLength(3);
    expect(leftoversOf(run)).toEqual([]);
  });

  itOnV1("a hog stuck in a child cgroup whose OOM killer the learner disabled is still torn down", async () => {
    // With oom_kill_disable set, v1 parks the hog in uninterruptible-looking OOM wait instead of
    // killing it; the session's teardown must still get rid of it and of the cgroup.
    const run = await sandboxSh(
      `cg=/sys/fs/cgroup/memory/frozen
       mkdir $cg && echo 16M > $cg/memory.limit_in_bytes && echo 1 > $cg/memory.oom_control
       sh -c "echo \\$\\$ > $cg/cgroup.procs; exec tail /dev/zero" &
       while ! grep -q '^under_oom 1' $cg/memory.oom_control; do sleep 0.05; done
       echo "the hog waits on a full cgroup"`,
    );
    expect(run.status).toBe(0);
    expect(lines(run.stdout)).toEqual(["the hog waits on a full cgroup"]);
    expect(leftoversOf(run)).toEqual([]);
  });

  itOnV1("creating child cgroups en masse cannot exhaust the host's cgroups or kernel memory", async () => {
    // Each v1 cgroup costs the host ~20-30 KiB of kernel memory, of which the session's memory
    // limit is charged only ~0.3 KiB (pids, cpu, cpuacct) or ~11 KiB (memory), and memory cgroup
    // ids are a host-wide pool of 65535. Lessons need a handful of child cgroups; a learner must
    // not be able to hold more than CHILD_CGROUP_BOUND of them in any hierarchy.
    const CHILD_CGROUP_BOUND = 256;
    const counts = () => {
      const byName: Record<string, number> = {};
      for (const line of lines(readOr("/proc/cgroups")).slice(1)) {
        const [name, , count] = line.split("\t");
        if (name) byName[name] = Number(count);
      }
      return byName;
    };
    const before = counts();
    const peak: Record<string, number> = { ...before };
    const sample = () => {
      for (const [name, n] of Object.entries(counts())) peak[name] = Math.max(peak[name] ?? 0, n);
    };
    const poller = setInterval(sample, 20);
    try {
      const run = await nslabRun(
        [
          "bash",
          "-c",
          `${PREAMBLE}for c in pids cpu cpuacct memory; do mkdir /sys/fs/cgroup/$c/flood-{1..1000} 2>/dev/null; done
           echo "tried 4000"; sleep 0.5`,
        ],
        { onStdout: (text) => text.includes("tried") && sample() },
      );
      sample();
      expect(run.hostname).not.toBeNull();
      // +1: the session's own cgroup.
      const held = ["pids", "cpu", "cpuacct", "memory"].map((name) => ({ name, held: (peak[name] ?? 0) - (before[name] ?? 0) }));
      // v1 has no kernel bound on child cgroups (v2's cgroup.max.descendants is one), so nslab
      // ends a session that goes past the bound, within milliseconds of the flood (inotify).
      // Either the flood never got past the bound, or the session was ended for it, having
      // held a bounded overshoot for that moment (the script may still finish its loop first:
      // past the bound on cgroups made, its mkdirs are refused).
      const ended = run.stderr.includes(`made more than ${CHILD_CGROUP_BOUND} cgroups`);
      const limit = ended ? 4 * CHILD_CGROUP_BOUND : CHILD_CGROUP_BOUND + 1;
      const over = held.filter((h) => h.held > limit).map(({ name, held: n }) => `${name}: ${n} cgroups at the peak`);
      expect(over, "hierarchies where the session held more cgroups than the bound").toEqual([]);
      expect(leftoversOf(run)).toEqual([]);
    } finally {
      clearInterval(poller);
    }
  });

  itOnV1("a cgroup tree nested deeper than PATH_MAX is still removed when the session ends", async () => {
    // Names of 250 characters, 20 levels deep: every path below the session cgroup is longer
    // than PATH_MAX (4096), so a teardown that walks absolute paths cannot reach the bottom.
    const run = await nslabRun([
      "bash",
      "-c",
      `${PREAMBLE}name=$(printf 'd%.0s' {1..250})
       cd /sys/fs/cgroup/pids && for i in $(seq 20); do mkdir $name && cd $name || break; done
       sleep 60 & echo $! > cgroup.procs
       pwd | wc -c`,
    ]);
    try {
      expect(run.status).toBe(0);
      expect(Number(lines(run.stdout)[0])).toBeGreaterThan(4096);
      expect(leftoversOf(run)).toEqual([]);
    } finally {
      // Whatever the teardown left, this test takes away again, so the next test starts clean.
      const prefix = (run.hostname ?? "lab-").slice("lab-".length);
      for (const parent of Object.values(hostDriver().parents)) {
        for (const entry of listOr(parent)) {
          // The walker teardown uses, through directory descriptors: no path grows past PATH_MAX.
          if (prefix && entry.startsWith(prefix) && !removeCgroupTree(path.join(parent, entry))) throw new Error(`cannot remove ${parent}/${entry}`);
        }
      }
    }
  }, 30_000);

  // --- The kernel's global knobs ---------------------------------------------------------------

  it("/proc/sys/* and /proc/sysrq-trigger cannot be written; the network sysctls are the sandbox's own", async () => {
    const hasSysrq = fs.existsSync("/proc/sysrq-trigger");
    const run = await nslabRun([
      "bash",
      "-c",
      `${PREAMBLE}for k in kernel/core_pattern kernel/modprobe kernel/sysrq vm/drop_caches vm/overcommit_memory kernel/hostname; do
         echo x 2>/dev/null > /proc/sys/$k || echo "$k: denied"
       done
       echo b > /proc/sysrq-trigger
       sysctl -w kernel.core_pattern='|/tmp/escape' 2>&1
       sysctl -w net.ipv4.ip_forward=1`,
    ]);
    expect(run.status).toBe(0);
    expect(lines(run.stdout)).toEqual([
      "kernel/core_pattern: denied",
      "kernel/modprobe: denied",
      "kernel/sysrq: denied",
      "vm/drop_caches: denied",
      "vm/overcommit_memory: denied",
      "kernel/hostname: denied",
      'sysctl: permission denied on key "kernel.core_pattern"',
      "net.ipv4.ip_forward = 1", // its own network namespace's; the host's stays (afterEach)
    ]);
    expect(run.stderr).toContain(hasSysrq ? "/proc/sysrq-trigger: Permission denied" : "/proc/sysrq-trigger: No such file or directory");
    expect(leftoversOf(run)).toEqual([]);
  });

  it("kill -9 -1 kills only the sandbox's own processes: a host process and another learner's sandbox live on", async () => {
    const hostSleeper = spawn("sleep", ["300"], { stdio: "ignore" });
    try {
      let otherReady: () => void = () => undefined;
      const ready = new Promise<void>((r) => (otherReady = r));
      const other = sandboxSh("echo ready; sleep 3; echo 'other learner alive'", {
        onStdout: (text) => text.includes("ready") && otherReady(),
      });
      await Promise.race([ready, other]); // an other sandbox that fails shows in its assertions below
      const run = await sandboxSh(
        `sleep 100 & s=$!
         bash -c 'kill -9 -1; echo "killer alive"'
         wait $s; echo "sleep exited $?"`,
      );
      expect(run.status).toBe(0);
      expect(lines(run.stdout)).toEqual(["killer alive", "sleep exited 137"]);
      const otherRun = await other;
      expect(otherRun.status).toBe(0);
      expect(lines(otherRun.stdout)).toEqual(["ready", "other learner alive"]);
      expect(hostSleeper.exitCode).toBeNull();
      expect(() => process.kill(hostSleeper.pid ?? 0, 0)).not.toThrow();
      expect(leftoversOf(run)).toEqual([]);
      expect(leftoversOf(otherRun)).toEqual([]);
    } finally {
      hostSleeper.kill("SIGKILL");
    }
  });

  // --- Looking for the host ------------------------------------------------------------------

  it("host files and the project's own files are not there, and no descriptor leads to them", async () => {
    const token = randomBytes(12).toString("hex");
    const marker = path.join(os.tmpdir(), `nslab-hostile-marker-${token}`);
    fs.writeFileSync(marker, `${token}\n`);
    try {
      const half = token.length / 2;
      const run = await sandboxSh(
        `for p in ${PROJECT_ROOT} ${PROJECT_ROOT}/package.json ${RUN_DIR} ${ROOTFS} ${marker} /proc/1/root${PROJECT_ROOT}; do
           test -e "$p" && echo "visible: $p"
         done
         find / -xdev \\( -name launcher.c -o -name ARCHITECTURE.md -o -name nslab-launcher -o -name 'nslab-hostile-marker-*' \\) -print
         t=${token.slice(0, half)}; grep -rlsF "\${t}${token.slice(half)}" / --exclude-dir=proc --exclude-dir=sys --exclude-dir=dev
         grep -cE '${PROJECT_ROOT}|${RUN_DIR}|${ROOTFS}' /proc/self/mountinfo
         for p in /proc/[0-9]*; do readlink $p/root $p/cwd; for f in $p/fd/*; do readlink $f; done; done | sort -u | paste -sd' '`,
      );
      expect(run.status).toBe(0);
      const out = lines(run.stdout);
      expect(out[0]).toBe("0"); // nothing of the host's paths in mountinfo; nothing found before it
      const targets = (out[1] ?? "").trim().split(" ");
      // Roots and working directories inside, the stdio this test gave nslab run (node hands a
      // child its pipes as unix socket pairs), /dev/null, and the loop's own /proc reads.
      for (const target of targets) expect(target).toMatch(/^(\/|\/root|pipe:\[\d+\]|socket:\[\d+\]|\/dev\/null|\/proc\/\d+\/fd)$/);
      expect(out).toHaveLength(2);
      expect(leftoversOf(run)).toEqual([]);
    } finally {
      fs.rmSync(marker, { force: true });
    }
  });

  it("a host directory handed over as stdin never reaches the sandbox (no way into the host's tree)", async () => {
    // nslab run copies its stdio through pipes: the sandbox holds pipes, never the caller's
    // own descriptors. (The launcher itself also refuses a directory as 0, 1 or 2, for
    // anyone who runs it directly.)
    const hostRoot = fs.openSync("/", fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
    try {
      const run = await nslabRun(["sh", "-c", `${PREAMBLE}readlink /proc/self/fd/0; ls /proc/self/fd/0/ 2>&1; true`], { stdinFd: hostRoot });
      expect(run.hostname).not.toBeNull();
      const [fd0, ...listing] = lines(run.stdout);
      expect(fd0).toMatch(/^(socket|pipe):\[\d+\]$/);
      expect(listing.join("\n")).toMatch(/Not a directory/);
      for (const hostEntry of ["work", "etc", "usr"]) expect(listing).not.toContain(hostEntry);
      expect(leftoversOf(run)).toEqual([]);
    } finally {
      fs.closeSync(hostRoot);
    }
  });

  it("the server's environment and secrets never reach the sandbox", async () => {
    const secret = `nslab-hostile-secret-${randomBytes(12).toString("hex")}`;
    const half = secret.length / 2;
    const run = await sandboxSh(
      `tr '\\0' '\\n' < /proc/1/environ | cut -d= -f1 | sort | paste -sd' '
       s=${secret.slice(0, half)}; grep -lsF "\${s}${secret.slice(half)}" /proc/[0-9]*/environ /proc/[0-9]*/cmdline /etc/* /root/.* 2>/dev/null
       echo "searched"`,
      { env: { NSLAB_HOSTILE_SECRET: secret, AWS_SECRET_ACCESS_KEY: secret, DATABASE_URL: `postgres://${secret}@db/x` } },
    );
    expect(run.status).toBe(0);
    expect(lines(run.stdout)).toEqual([ENV_ALLOW_LIST.join(" "), "searched"]);
    expect(leftoversOf(run)).toEqual([]);
  });

  it("the command's environment is exactly the allow-list", async () => {
    const run = await nslabRun(["env"], { env: { NSLAB_HOSTILE_SECRET: "x", LD_PRELOAD: "/tmp/evil.so" } });
    expect(run.status).toBe(0);
    const names = lines(run.stdout).map((l) => l.slice(0, l.indexOf("=")));
    expect(names.sort()).toEqual(ENV_ALLOW_LIST);
    expect(run.stdout).toMatch(/^PATH=\/usr\/local\/sbin:\/usr\/local\/bin:\/usr\/sbin:\/usr\/bin:\/sbin:\/bin$/m);
    expect(run.stdout).toMatch(/^HOSTNAME=lab-[0-9a-f]{6}$/m);
    expect(leftoversOf(run)).toEqual([]);
  });

  // --- Mounts, roots and privileges -----------------------------------------------------------

  it("remounting locked parts, unmounting / or /sys, and chroot tricks are denied; the old root is nowhere", async () => {
    // The device of the host's root file system ("major:minor"): no mount inside may show it.
    const hostRootDevice = lines(readOr("/proc/self/mountinfo")).find((l) => l.split(" ")[4] === "/")?.split(" ")[2] ?? "none";
    const run = await sandboxSh(
      `mount -o remount,suid /; echo "suid root: $?"
       mount -o remount,dev /; echo "dev root: $?"
       mount -o remount,rw /sys; echo "rw /sys: $?"
       mount -o remount,bind,rw /sys; echo "rw bind /sys: $?"
       umount /sys; echo "umount /sys: $?"
       umount -l /; echo "umount -l /: $?"
       cd /../../../.. && [ "$(stat -c %d:%i .)" = "$(stat -c %d:%i /)" ] && echo "/.. is /"
       mkdir -p /tmp/jail && chroot /tmp/jail /bin/true; echo "chroot into an empty dir: $?"
       nsenter --mount=/proc/self/ns/mnt sh -c 'test -e /.nslab-image && echo "setns lands on the sandbox root"'
       grep -c ' ${hostRootDevice} ' /proc/self/mountinfo
       exit 0`,
    );
    expect(run.status).toBe(0);
    expect(lines(run.stdout)).toEqual([
      "suid root: 32",
      "dev root: 32",
      "rw /sys: 32",
      "rw bind /sys: 32",
      "umount /sys: 32",
      "umount -l /: 32",
      "/.. is /",
      "chroot into an empty dir: 127",
      "setns lands on the sandbox root",
      "0",
    ]);
    expect(run.stderr).toContain("umount: /: not mounted.");
    expect(run.stderr).toContain("umount: /sys: not mounted.");
    expect(run.stderr.match(/mount: \/(sys)?: permission denied\./g)).toHaveLength(4);
    expect(leftoversOf(run)).toEqual([]);
  });

  it("root in the sandbox holds only the capabilities the course needs, and dropped ones never come back", async () => {
    const run = await sandboxSh(
      `grep -E '^Cap(Prm|Eff|Bnd|Amb|Inh):|^NoNewPrivs:' /proc/self/status | tr -s '\\t' ' '
       capsh --print | sed -n 's/^Bounding set =//p'
       unshare -Ur date -s @$(date +%s) >/dev/null 2>&1 || echo "nested root cannot set the clock either"`,
    );
    expect(run.status).toBe(0);
    expect(lines(run.stdout)).toEqual([
      "CapInh: 0000000000000000",
      `CapPrm: ${CAPS_KEPT_MASK}`,
      `CapEff: ${CAPS_KEPT_MASK}`,
      `CapBnd: ${CAPS_KEPT_MASK}`,
      "CapAmb: 0000000000000000",
      "NoNewPrivs: 1",
      CAPS_KEPT.join(","),
      "nested root cannot set the clock either",
    ]);
    expect(leftoversOf(run)).toEqual([]);
  });

  it("setuid binaries and file capabilities give nothing beyond the user namespace", async () => {
    const run = await sandboxSh(
      `echo secret > /root/secret && chmod 600 /root/secret
       cp /usr/bin/cat /root/suid-cat && chmod 4755 /root/suid-cat
       cp /usr/bin/cat /root/cap-cat && setcap cap_dac_override+ep /root/cap-cat && getcap /root/cap-cat
       as_user() { setpriv --reuid 1000 --regid 1000 --keep-groups "$@"; }
       as_user /root/suid-cat /proc/self/status | grep -E '^(Uid|CapEff):' | tr -s '\\t' ' '
       as_user /root/suid-cat /root/secret; echo "setuid cat: $?"
       as_user /root/cap-cat /root/secret; echo "file-capability cat: $?"
       as_user /usr/bin/su -c id root </dev/null >/dev/null 2>&1; echo "su: $?"`,
    );
    expect(run.status).toBe(0);
    expect(lines(run.stdout)).toEqual([
      "/root/cap-cat cap_dac_override=ep",
      "Uid: 1000 1000 1000 1000",
      "CapEff: 0000000000000000",
      "setuid cat: 1",
      "file-capability cat: 1",
      "su: 1",
    ]);
    expect(run.stderr.match(/cat: \/root\/secret: Permission denied/g)).toHaveLength(2);
    expect(leftoversOf(run)).toEqual([]);
  });

  it("mknod of a disk is denied, and /dev holds no disks", async () => {
    const run = await sandboxSh(
      `mknod /tmp/sda b 8 0; echo "mknod in /tmp: $?"
       mknod /root/sda b 8 0; echo "mknod in /root: $?"
       mknod /dev/mem c 1 1; echo "mknod in /dev: $?"
       ls /dev | tr '\\n' ' '`,
    );
    expect(run.status).toBe(0);
    expect(lines(run.stdout)).toEqual([
      "mknod in /tmp: 1",
      "mknod in /root: 1",
      "mknod in /dev: 1",
      "fd full null ptmx pts random shm stderr stdin stdout tty urandom zero ",
    ]);
    expect(run.stderr.match(/Operation not permitted/g)).toHaveLength(3);
    expect(leftoversOf(run)).toEqual([]);
  });

  itWithProbe("modules, kexec, bpf, perf_event_open, io_uring, keyrings, userfaultfd, the kernel log, raw, packet and vsock sockets and netfilter are denied", async () => {
    const run = await sandboxSh(`${INSTALL_PROBE}/tmp/probe syscalls; dmesg >/dev/null; echo "dmesg exited $?"`, { stdin: PROBE ?? undefined });
    expect(run.status).toBe(0);
    const denied = "Operation not permitted";
    expect(lines(run.stdout)).toEqual([
      `bpf: ${denied}`,
      `perf_event_open: ${denied}`,
      `io_uring_setup: ${denied}`,
      `keyctl: ${denied}`,
      `add_key: ${denied}`,
      `request_key: ${denied}`,
      `userfaultfd: ${denied}`,
      `init_module: ${denied}`,
      `finit_module: ${denied}`,
      `delete_module: ${denied}`,
      `kexec_load: ${denied}`,
      `kexec_file_load: ${denied}`,
      `name_to_handle_at: ${denied}`,
      `open_by_handle_at: ${denied}`,
      `syslog: ${denied}`,
      `swapon: ${denied}`,
      `acct: ${denied}`,
      `reboot: ${denied}`,
      `settimeofday: ${denied}`,
      `adjtimex: ${denied}`,
      `mknod block device: ${denied}`,
      `mknod char device: ${denied}`,
      `ioctl TIOCSTI: ${denied}`,
      `ioctl TIOCSETD: ${denied}`,
      "fsopen: Function not implemented", // so libmount falls back to mount(2)
      ...(process.arch === "x64" ? [`x32 getpid: ${denied}`] : []),
      `socket AF_PACKET: ${denied}`,
      `socket AF_INET SOCK_RAW: ${denied}`,
      `socket AF_INET6 SOCK_RAW: ${denied}`,
      `socket AF_INET SOCK_PACKET: ${denied}`,
      `socket AF_VSOCK: ${denied}`,
      `socket AF_ALG: ${denied}`,
      `socket NETLINK_NETFILTER: ${denied}`,
      "socket NETLINK_ROUTE: ok",
      "socket AF_INET SOCK_STREAM: ok",
      "socket AF_INET6 SOCK_DGRAM: ok",
      "socket AF_UNIX: ok",
      "dmesg exited 1",
    ]);
    expect(run.stderr).toContain("dmesg: read kernel buffer failed: Operation not permitted");
    expect(leftoversOf(run)).toEqual([]);
  });

  it("the clock cannot be changed and reboot is denied; a new hostname stays inside", async () => {
    const before = { wall: Date.now(), mono: performance.now() };
    const run = await sandboxSh(
      `date -s @$(date +%s) >/dev/null; echo "date: $?"
       ctrlaltdel hard; echo "ctrlaltdel: $?"
       swapoff -a; echo "swapoff: $?"
       hostname escaped-host && hostname`,
    );
    expect(run.status).toBe(0);
    expect(lines(run.stdout)).toEqual(["date: 1", "ctrlaltdel: 1", "swapoff: 0", "escaped-host"]);
    expect(run.stderr).toContain("date: cannot set date: Operation not permitted");
    expect(run.stderr).toContain("ctrlaltdel: reboot: Operation not permitted");
    const drift = Date.now() - before.wall - (performance.now() - before.mono);
    expect(Math.abs(drift)).toBeLessThan(1_000);
    expect(os.hostname()).toBe(host.baseline().hostname);
    expect(leftoversOf(run)).toEqual([]);
  });

  // --- The network --------------------------------------------------------------------------

  it("only loopback exists: the internet, the server's port and the host's address are unreachable", async () => {
    const server = net.createServer((socket) => socket.destroy());
    let connections = 0;
    server.on("connection", () => connections++);
    await new Promise<void>((r) => server.listen(0, "0.0.0.0", r));
    const port = (server.address() as net.AddressInfo).port;
    const hostAddress = Object.values(os.networkInterfaces()).flat().find((a) => a && a.family === "IPv4" && !a.internal)?.address;
    try {
      const targets = ["127.0.0.1", ...(hostAddress ? [hostAddress] : []), "1.1.1.1"];
      const run = await nslabRun([
        "bash",
        "-c",
        `${PREAMBLE}ip -o link | cut -d: -f2 | tr -d ' '
         ip route | grep -c default
         for t in ${targets.join(" ")}; do timeout 5 bash -c "exec 3<>/dev/tcp/$t/${port}" 2>&1 | tail -n 1; done`,
      ]);
      expect(run.status).toBe(0);
      expect(lines(run.stdout)).toEqual([
        "lo",
        "0",
        `bash: line 1: /dev/tcp/127.0.0.1/${port}: Connection refused`,
        ...(hostAddress ? [`bash: line 1: /dev/tcp/${hostAddress}/${port}: Network is unreachable`] : []),
        `bash: line 1: /dev/tcp/1.1.1.1/${port}: Network is unreachable`,
      ]);
      expect(connections).toBe(0);
      expect(leftoversOf(run)).toEqual([]);
    } finally {
      server.close();
    }
  });

  itWithProbe("another learner's TCP port and abstract unix socket are unreachable", async () => {
    const port = 7000 + Math.floor(Math.random() * 1000);
    let listening: () => void = () => undefined;
    const ready = new Promise<void>((r) => (listening = r));
    // The other learner listens, and proves the listener works by reaching it themselves.
    const other = sandboxSh(`${INSTALL_PROBE}/tmp/probe listen ${port} 3 & sleep 0.2; /tmp/probe connect 127.0.0.1 ${port}; wait`, {
      stdin: PROBE ?? undefined,
      onStdout: (text) => text.includes("listening") && listening(),
    });
    await Promise.race([ready, other]);
    const run = await sandboxSh(`${INSTALL_PROBE}/tmp/probe connect 127.0.0.1 ${port}`, { stdin: PROBE ?? undefined });
    const otherRun = await other;
    expect(run.status).toBe(0);
    expect(lines(run.stdout)).toEqual([
      `connect tcp 127.0.0.1:${port}: Connection refused`,
      `connect unix @nslab-probe-${port}: Connection refused`,
    ]);
    expect(otherRun.status).toBe(0);
    expect(lines(otherRun.stdout)).toEqual([
      "listening",
      `connect tcp 127.0.0.1:${port}: ok`,
      `connect unix @nslab-probe-${port}: ok`,
      "accepted tcp 1 unix 1",
    ]);
    expect(leftoversOf(run)).toEqual([]);
    expect(leftoversOf(otherRun)).toEqual([]);
  });

  // --- Identity and what the command sees of the launcher -------------------------------------

  it("two sandboxes at once get different uid ranges of their own", async () => {
    const script = "cat /proc/self/uid_map; sleep 1";
    const [a, b] = await Promise.all([sandboxSh(script), sandboxSh(script)]);
    const map = (r: RunResult) => lines(r.stdout)[0]?.trim().split(/\s+/).map(Number) ?? [];
    const [ma, mb] = [map(a), map(b)];
    expect(ma[0]).toBe(0);
    expect(mb[0]).toBe(0);
    expect(ma[2]).toBe(IDS_PER_SANDBOX);
    expect(mb[2]).toBe(IDS_PER_SANDBOX);
    expect(ma[1]).toBeGreaterThanOrEqual(UID_BASE_START);
    expect(mb[1]).toBeGreaterThanOrEqual(UID_BASE_START);
    expect(Math.abs((ma[1] ?? 0) - (mb[1] ?? 0))).toBeGreaterThanOrEqual(IDS_PER_SANDBOX);
    expect(leftoversOf(a)).toEqual([]);
    expect(leftoversOf(b)).toEqual([]);
  });

  it("setgroups is denied and the gid map is the uid map", async () => {
    const run = await sandboxSh("cat /proc/self/setgroups; cmp -s /proc/self/uid_map /proc/self/gid_map && echo same");
    expect(lines(run.stdout)).toEqual(["deny", "same"]);
    expect(leftoversOf(run)).toEqual([]);
  });

  it("only descriptors 0, 1 and 2 are open at exec", async () => {
    // sh (the command the launcher exec'd) execs ls in its place, so ls holds exactly what the
    // launcher passed on, plus 3, its own directory stream on /proc/self/fd.
    const run = await sandboxSh("exec ls /proc/self/fd");
    expect(run.status).toBe(0);
    expect(lines(run.stdout)).toEqual(["0", "1", "2", "3"]);
    expect(leftoversOf(run)).toEqual([]);
  });

  it("the launcher is invisible: pid 1 is the command itself and no process runs the launcher", async () => {
    const run = await sandboxSh(
      `readlink /proc/1/exe
       tr '\\0' '\\n' < /proc/1/cmdline | head -n 2 | paste -sd' '
       for p in /proc/[0-9]*; do readlink $p/exe; done | sort -u | paste -sd' '`,
    );
    expect(run.status).toBe(0);
    const [exe, cmdline, all] = lines(run.stdout);
    expect([exe, cmdline]).toEqual(["/usr/bin/dash", "sh -c"]);
    // Everything that runs is the command and what it started (sh, and the pipeline's sort and
    // paste if they were already there): the launcher exec'd itself away before any of it.
    const exes = (all ?? "").split(" ");
    expect(exes).toContain("/usr/bin/dash");
    for (const e of exes) expect(["/usr/bin/dash", "/usr/bin/paste", "/usr/bin/readlink", "/usr/bin/sort"]).toContain(e);
    expect(run.stdout).not.toContain("nslab-launcher");
    expect(leftoversOf(run)).toEqual([]);
  });

  it("rm -rf / inside leaves the shared image, the launcher and the next sandbox untouched", async () => {
    const run = await sandboxSh("rm -rf --no-preserve-root / 2>/dev/null; test -e /usr/bin/ls || echo 'the sandbox lost /usr/bin/ls'", { timeoutMs: 60_000 });
    expect(run.status).toBe(0);
    expect(lines(run.stdout)).toEqual(["the sandbox lost /usr/bin/ls"]);
    expect(leftoversOf(run)).toEqual([]);
    const next = await sandboxSh("ls /usr/bin/ls && echo x >> /etc/motd && echo 'the next sandbox is whole'");
    expect(lines(next.stdout)).toEqual(["/usr/bin/ls", "the next sandbox is whole"]);
    expect(leftoversOf(next)).toEqual([]);
  });

  // --- The course still works inside -----------------------------------------------------------

  it("course: a nested pid namespace with its own /proc (unshare -p -f --mount-proc)", async () => {
    const run = await sandboxSh(`unshare -p -f --mount-proc sh -c 'echo "pid $$"; echo /proc/[0-9]*'; ps -e -o comm= | sort -u | paste -sd' '`);
    expect(run.status).toBe(0);
    // Inside: pid 1, alone in its fresh /proc. Outside, in the sandbox's own /proc, all of them.
    expect(lines(run.stdout)).toEqual(["pid 1", "/proc/1", "paste ps sh sort"]);
    expect(leftoversOf(run)).toEqual([]);
  });

  it("course: unshare -Ur makes a nested user namespace that maps root again", async () => {
    const run = await sandboxSh("unshare -Ur sh -c 'id -u; cat /proc/self/uid_map; grep CapEff /proc/self/status'");
    expect(run.status).toBe(0);
    expect(lines(run.stdout).map((l) => l.trim().split(/\s+/).join(" "))).toEqual(["0", "0 0 1", "CapEff: 000001ffffffffff"]);
    expect(leftoversOf(run)).toEqual([]);
  });

  it("course: unshare --net, ip netns add/exec, a veth pair, and nsenter --net into another process's namespace", async () => {
    const run = await sandboxSh(
      `unshare --net ip -o link | cut -d: -f2 | sed 's/^ */unshare --net: /'
       ip netns add blue && ip netns list
       ip link add v0 type veth peer name v1 && ip link set v1 netns blue
       ip netns exec blue ip -o link | cut -d: -f2 | cut -d@ -f1 | sed 's/^ */blue: /'
       unshare --net sleep 30 & s=$!
       while [ "$(readlink /proc/$s/ns/net)" = "$(readlink /proc/self/ns/net)" ]; do :; done
       nsenter --target $s --net ip -o link | cut -d: -f2 | sed 's/^ */nsenter: /'
       kill $s`,
    );
    expect(run.status).toBe(0);
    expect(lines(run.stdout)).toEqual(["unshare --net: lo", "blue", "blue: lo", "blue: v1", "nsenter: lo"]);
    expect(leftoversOf(run)).toEqual([]);
  });

  it("course: a time namespace with its own boot-time offset (unshare --time --boottime)", async () => {
    const run = await sandboxSh(
      `unshare --time --boottime 864000 cat /proc/uptime | cut -d. -f1
       cut -d. -f1 /proc/uptime`,
    );
    expect(run.status).toBe(0);
    const [inside, outside] = lines(run.stdout).map(Number);
    expect((inside ?? 0) - (outside ?? 0)).toBeGreaterThanOrEqual(864000 - 1);
    expect((inside ?? 0) - (outside ?? 0)).toBeLessThanOrEqual(864000 + 1);
    expect(leftoversOf(run)).toEqual([]);
  });

  it("course: mount -t tmpfs works inside and shows nowhere on the host", async () => {
    const run = await sandboxSh("mkdir -p /mnt/scratch && mount -t tmpfs -o size=1m lesson-tmpfs /mnt/scratch && df -k --output=size,target /mnt/scratch | tail -n 1");
    expect(run.status).toBe(0);
    expect(lines(run.stdout).map((l) => l.trim().split(/\s+/).join(" "))).toEqual(["1024 /mnt/scratch"]);
    expect(readOr("/proc/self/mountinfo")).not.toContain("lesson-tmpfs");
    expect(leftoversOf(run)).toEqual([]);
  });

  itOnV1("course: a child cgroup with a lower memory limit OOM-kills its hog while the shell survives", async () => {
    const run = await sandboxSh(
      `cg=/sys/fs/cgroup/memory/hog
       mkdir $cg && echo 16M > $cg/memory.limit_in_bytes
       sh -c "echo \\$\\$ > $cg/cgroup.procs; exec tail /dev/zero"; echo "hog exited $?"
       cat $cg/memory.limit_in_bytes; grep '^oom_kill ' $cg/memory.oom_control
       grep '^oom_kill ' /sys/fs/cgroup/memory/memory.oom_control
       echo "shell alive"`,
    );
    expect(run.status).toBe(0);
    expect(lines(run.stdout)).toEqual(["hog exited 137", String(16 * MiB), "oom_kill 1", "oom_kill 0", "shell alive"]);
    expect(leftoversOf(run)).toEqual([]);
  });
});
