// The memory-limit check against cgroup trees made in a temporary directory: the limit counts
// whether the learner set it on the session's own cgroup or on a child cgroup they made, on
// either cgroup version, however deep the child is nested.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

import { afterEach, beforeEach, describe, expect, it } from "vitest";

import type { ProbeSnapshot } from "../../common/lab-state";
import type { LabCheck } from "../../common/lab-steps";
import { walkCgroupTree } from "../kernel/cgroup-tree";
import { readCgroupSnapshot } from "../probes/cgroup-snapshot";
import { readHostNamespaces } from "../probes/namespaces";
import type { SessionCgroup } from "../sandbox/cgroup/session-cgroup";
import { checkHolds, memoryLimitsInSubtree } from "./checks";

const MiB = 1024 * 1024;
const UNLIMITED_V1 = new URL("../probes/fixtures/v1/unlimited/", import.meta.url).pathname;
const CHILD_LIMIT: LabCheck = { kind: "memory-limit", bytes: 64 * MiB };

let tmp: string;
beforeEach(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "nslab-checks-"));
});
afterEach(() => {
  // Files first, then each directory, through descriptors: one tree is deeper than PATH_MAX.
  walkCgroupTree(tmp, { maxCgroups: 1000, maxDepth: 1000 }, {
    leave: (c) => {
      for (const entry of fs.readdirSync(c.dir, { withFileTypes: true })) if (!entry.isDirectory()) fs.rmSync(path.join(c.dir, entry.name));
      fs.rmdirSync(c.dir);
    },
  });
});

function limitFile(relative: string, file: string, text: string): string {
  const dir = path.join(tmp, relative);
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, file), text);
  return dir;
}

/** A snapshot whose own memory limit is unlimited: only a child cgroup can hold the limit. */
function snapshot(): ProbeSnapshot {
  const cgroup = readCgroupSnapshot({ version: 1, memory: `${UNLIMITED_V1}/memory`, cpu: `${UNLIMITED_V1}/cpu`, cpuacct: `${UNLIMITED_V1}/cpuacct`, pids: `${UNLIMITED_V1}/pids` });
  return { takenAtMs: 0, hostNamespaces: readHostNamespaces(), cgroup, processes: [] };
}

describe("the memory-limit check", () => {
  it("holds once a child cgroup of the session has the limit, on cgroup v1", () => {
    const memory = limitFile("memory/s1", "memory.limit_in_bytes", "9223372036854771712\n");
    const nowhere = path.join(tmp, "not-mounted");
    const cgroup: SessionCgroup = { version: 1, memory, cpu: nowhere, cpuacct: nowhere, pids: nowhere };
    expect(checkHolds(CHILD_LIMIT, { snapshot: snapshot(), shellHostPid: 1, cgroup })).toBe(false);
    limitFile("memory/s1/hog", "memory.limit_in_bytes", `${64 * MiB}\n`);
    expect(memoryLimitsInSubtree(cgroup)).toEqual([Number("9223372036854771712"), 64 * MiB]);
    expect(checkHolds(CHILD_LIMIT, { snapshot: snapshot(), shellHostPid: 1, cgroup })).toBe(true);
  });

  it("reads memory.max on cgroup v2, where no limit reads as max", () => {
    const dir = limitFile("unified/s1", "memory.max", "max\n");
    limitFile("unified/s1/hog", "memory.max", `${64 * MiB}\n`);
    expect(memoryLimitsInSubtree({ version: 2, dir })).toEqual([64 * MiB]);
  });

  it("finds the limit in a child cgroup nested deeper than PATH_MAX", () => {
    const dir = limitFile("unified/s1", "memory.max", "max\n");
    // Made through descriptors, as a learner's `mkdir x && cd x` loop makes it.
    let fd = fs.openSync(dir, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
    for (let level = 0; level < 20; level++) {
      const next = `/proc/self/fd/${fd}/${"d".repeat(250)}`;
      fs.mkdirSync(next);
      const nextFd = fs.openSync(next, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
      fs.closeSync(fd);
      fd = nextFd;
    }
    fs.writeFileSync(`/proc/self/fd/${fd}/memory.max`, `${64 * MiB}\n`);
    fs.closeSync(fd);
    expect(memoryLimitsInSubtree({ version: 2, dir })).toEqual([64 * MiB]);
  });

  it("reads nothing of a session cgroup that is gone", () => {
    expect(memoryLimitsInSubtree({ version: 2, dir: path.join(tmp, "gone") })).toEqual([]);
  });
});
