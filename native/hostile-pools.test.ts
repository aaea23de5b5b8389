// The hostile suite's pools: what every sandbox on the host draws from that a learner might
// drain or read from, without escaping. Here: the cgroup hierarchies nslab sets no limit in
// (each must show the session's own leaf as its root, never the host's tree), and removed child
// cgroups that stay behind as dying ones (bounded like live ones).
import fs from "node:fs";
import path from "node:path";

import { afterAll, beforeAll, describe, expect } from "vitest";

import { hostCgroupLayout } from "../server/sandbox/cgroup";
import { MAX_CHILD_CGROUPS } from "../server/sandbox/cgroup/driver";
import { checkHostAfterEachTest, itOnV1, leftoversOf, lines, readOr, sandboxSh, unavailable } from "./hostile-harness";

const layout = unavailable === null ? hostCgroupLayout() : null;
const unmanaged = layout?.version === 1 ? layout.unmanaged : [];

/** num_cgroups of each controller in /proc/cgroups (live and dying cgroups alike). */
function cgroupCounts(): Record<string, number> {
  const byName: Record<string, number> = {};
  for (const line of lines(readOr("/proc/cgroups")).slice(1)) {
    const [name, , count] = line.split("\t");
    if (name) byName[name] = Number(count);
  }
  return byName;
}

describe.skipIf(unavailable !== null)(`a learner draining what sandboxes share${unavailable ? ` (skipped: ${unavailable})` : ""}`, () => {
  checkHostAfterEachTest();

  // Another tenant of the host, in each hierarchy nslab does not manage: a sandbox must not see it.
  const tenant = `nslab-pools-tenant-${process.pid}`;
  beforeAll(() => {
    for (const h of unmanaged) fs.mkdirSync(path.join(h.mountPoint, tenant));
  });
  afterAll(() => {
    for (const h of unmanaged) fs.rmdirSync(path.join(h.mountPoint, tenant));
  });

  itOnV1("every cgroup hierarchy mounted inside shows the session's own leaf as its root, not the host's tree", async () => {
    expect(unmanaged.map((h) => h.name), "this host's hierarchies nslab sets no limit in").not.toEqual([]);
    // Each hierarchy as the learner would mount it: by its controllers, by its name, or cgroup2.
    const mountOf = (name: string) =>
      name === "cgroup2" ? "-t cgroup2" : `-t cgroup -o ${name.startsWith("name=") ? `none,${name}` : name}`;
    const script = unmanaged
      .map(
        (h) => `mkdir -p /mnt/h && mount ${mountOf(h.name)} none /mnt/h && {
          echo "${h.name}: dirs [$(cd /mnt/h && find . -mindepth 1 -type d | sort | tr '\\n' ' ')] release_agent $(test -e /mnt/h/release_agent && echo yes || echo no) procs $(wc -l < /mnt/h/cgroup.procs)"
          umount /mnt/h; } || echo "${h.name}: mount failed"`,
      )
      .join("\n");
    // Two at once: each is a sibling of the other's leaf on the host, so neither may see it.
    const [run, other] = await Promise.all([sandboxSh(`${script}\ngrep -c ':/$' /proc/self/cgroup`), sandboxSh("sleep 1")]);
    expect(run.status, run.stderr).toBe(0);
    const otherPrefix = (other.hostname ?? "lab-").slice("lab-".length);
    expect(run.stdout).not.toContain(tenant);
    expect(otherPrefix).not.toBe("");
    expect(run.stdout).not.toContain(otherPrefix);
    // No child cgroup at all, no release_agent (only a hierarchy's real root has one), and the
    // sandbox's own processes (sh, and the subshells listing) are the only ones in it.
    for (const h of unmanaged) {
      expect(lines(run.stdout)).toContainEqual(expect.stringMatching(new RegExp(`^${h.name}: dirs \\[\\] release_agent no procs [1-9]$`)));
    }
    // /proc/self/cgroup inside: the root in every hierarchy, managed or not.
    expect(Number(lines(run.stdout).at(-1))).toBe(readOr("/proc/self/cgroup").split("\n").filter(Boolean).length);
    expect(leftoversOf(run)).toEqual([]);
    expect(leftoversOf(other)).toEqual([]);
  });

  itOnV1("child cgroups made and removed in a loop, each pinned by a page of /tmp, stop at the bound", async () => {
    // Each removed cgroup whose memory still holds a page (a file on the sandbox's tmpfs
    // written from inside it) stays behind as a dying cgroup: it counts in the host's
    // /proc/cgroups and its kernel memory, but not as a child of the session any more.
    const before = cgroupCounts().memory ?? 0;
    const run = await sandboxSh(
      `cd /sys/fs/cgroup/memory
       made=0; i=0
       while [ $i -lt 600 ]; do
         i=$((i+1))
         mkdir x 2>/dev/null || break
         made=$((made+1))
         echo $$ > x/cgroup.procs; echo a > /tmp/f$i; echo $$ > cgroup.procs
         rmdir x
       done
       echo "made $made"
       mkdir y 2>&1 | head -1`,
      { timeoutMs: 120_000 },
    );
    const after = cgroupCounts().memory ?? 0;
    expect(run.stdout).not.toContain("made 600");
    const made = Number(/^made (\d+)$/m.exec(run.stdout)?.[1] ?? "NaN");
    // Cut off at the bound, counted in creations; a little past it at most (inotify reports
    // them a moment after they are made).
    expect(made).toBeGreaterThan(MAX_CHILD_CGROUPS / 2);
    expect(made).toBeLessThanOrEqual(MAX_CHILD_CGROUPS + 64);
    expect(run.stdout).toMatch(/mkdir: cannot create directory .y.: (Permission denied|Operation not permitted)/);
    // The host's memory cgroups grew by no more than the bound (others' sessions may come and
    // go meanwhile: slack for them).
    expect(after - before).toBeLessThanOrEqual(MAX_CHILD_CGROUPS + 64);
    expect(leftoversOf(run)).toEqual([]);
  }, 180_000);
});
