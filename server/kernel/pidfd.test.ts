// A process is signalled for a session only when its cgroup is the session's own or one below
// it: session ids that are prefixes or suffixes of each other never claim each other's
// processes. The last test does it with a real process in a real cgroup (as root, cgroup v1).
import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";

import { describe, expect, it } from "vitest";

import { hostCgroupLayout } from "../sandbox/cgroup";
import { SIGKILL, cgroupFileHasPath, signalIfInCgroup } from "./pidfd";

const v1Lines = (memoryPath: string) => `9:name=systemd:/\n8:pids:${memoryPath}\n4:memory:${memoryPath}\n1:cpu:/\n0::/\n`;

describe("cgroupFileHasPath", () => {
  it("matches the session's cgroup and the cgroups below it, in any hierarchy", () => {
    expect(cgroupFileHasPath(v1Lines("/nslab/abc"), "/nslab/abc")).toBe(true);
    expect(cgroupFileHasPath(v1Lines("/nslab/abc/child/grandchild"), "/nslab/abc")).toBe(true);
    expect(cgroupFileHasPath("0::/nslab/abc\n", "/nslab/abc")).toBe(true);
  });

  it("does not take a session whose id starts or ends with another's for it", () => {
    expect(cgroupFileHasPath(v1Lines("/nslab/abcd"), "/nslab/abc")).toBe(false);
    expect(cgroupFileHasPath(v1Lines("/nslab/xabc"), "/nslab/abc")).toBe(false);
    expect(cgroupFileHasPath(v1Lines("/x/abc"), "/nslab/abc")).toBe(false);
    // A learner's child cgroup named like another session: inside their own tree, not the other's.
    expect(cgroupFileHasPath(v1Lines("/nslab/learner1/nslab/abc"), "/nslab/abc")).toBe(false);
    expect(cgroupFileHasPath(v1Lines("/"), "/nslab/abc")).toBe(false);
  });

  it("reads a path holding colons whole", () => {
    expect(cgroupFileHasPath("4:memory:/nslab/abc/a:b\n", "/nslab/abc")).toBe(true);
    expect(cgroupFileHasPath("4:memory:/nslab/abc:d\n", "/nslab/abc")).toBe(false);
  });

  it("refuses a path that would match everything", () => {
    expect(() => cgroupFileHasPath("", "/")).toThrow(/not a cgroup path below the root/);
    expect(() => cgroupFileHasPath("", "nslab/abc")).toThrow(/not a cgroup path below the root/);
    expect(() => cgroupFileHasPath("", "/nslab/abc/")).toThrow(/not a cgroup path below the root/);
  });
});

const layout = hostCgroupLayout();
const pidsRoot = layout.version === 1 ? layout.hierarchies.find((h) => h.controllers.includes("pids"))?.mountPoint : undefined;
const realCgroups = process.getuid?.() === 0 && pidsRoot !== undefined;

describe.skipIf(!realCgroups)(`signalIfInCgroup with a real process${realCgroups ? "" : " (skipped: needs root and a cgroup v1 pids hierarchy)"}`, () => {
  it("spares a process of session abcd1234 when session abcd is torn down, and kills one of abcd", async () => {
    const parent = `/nslab-test-pidfd-${process.pid}`;
    const dir = (id: string) => path.join(pidsRoot ?? "", parent, id);
    const sleeper = (id: string) => {
      fs.mkdirSync(dir(id), { recursive: true });
      const child = spawn("sleep", ["60"], { stdio: "ignore" });
      fs.writeFileSync(path.join(dir(id), "cgroup.procs"), String(child.pid));
      return child;
    };
    const exited = (child: ReturnType<typeof spawn>) => new Promise<NodeJS.Signals | null>((resolve) => child.once("exit", (_code, signal) => resolve(signal)));
    const other = sleeper("abcd1234");
    const own = sleeper("abcd");
    try {
      const otherExit = exited(other);
      const ownExit = exited(own);
      expect(signalIfInCgroup(other.pid ?? 0, SIGKILL, `${parent}/abcd`)).toBe(false);
      expect(signalIfInCgroup(own.pid ?? 0, SIGKILL, `${parent}/abcd`)).toBe(true);
      expect(await ownExit).toBe("SIGKILL");
      expect(other.exitCode).toBeNull();
      other.kill("SIGKILL");
      await otherExit;
    } finally {
      other.kill("SIGKILL");
      own.kill("SIGKILL");
      for (const id of ["abcd1234", "abcd"]) {
        while (fs.existsSync(dir(id))) {
          try {
            fs.rmdirSync(dir(id));
          } catch {
            await new Promise((r) => setTimeout(r, 5));
          }
        }
      }
      fs.rmdirSync(path.join(pidsRoot ?? "", parent));
    }
  });
});
