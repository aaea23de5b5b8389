// Lab-step checks, made against kernel state: the probes' snapshot of the learner's processes
// and cgroup, plus the memory limits of the child cgroups they made. Never against what they
// typed: a step is done when the kernel says so.
import fs from "node:fs";

import type { ProbeSnapshot } from "../../common/lab-state";
import type { LabCheck } from "../../common/lab-steps";
import { MAX_CHILD_CGROUPS } from "../sandbox/cgroup/driver";
import { walkCgroupTree } from "../sandbox/cgroup/fs-ops";

export interface CheckContext {
  snapshot: ProbeSnapshot;
  /** Host pid of the sandbox's shell (its pid 1). */
  shellHostPid: number;
  cgroup: { version: 1 | 2; dirs: Readonly<Record<string, string>> };
}

/** Memory limits of the session's cgroup and of every cgroup the learner made below it. */
export function memoryLimitsInSubtree(cgroup: CheckContext["cgroup"]): number[] {
  const [dir, file] =
    cgroup.version === 1
      ? [Object.entries(cgroup.dirs).find(([name]) => name.split(",").includes("memory"))?.[1], "memory.limit_in_bytes"]
      : [cgroup.dirs.unified, "memory.max"];
  if (!dir) return [];
  const limits: number[] = [];
  // Walked through directory descriptors: a learner can nest cgroups deeper than PATH_MAX.
  walkCgroupTree(
    dir,
    {
      before: (sub) => {
        try {
          const text = fs.readFileSync(`${sub}/${file}`, "utf8").trim();
          if (/^\d+$/.test(text)) limits.push(Number(text));
        } catch {
          // removed while we looked
        }
      },
    },
    MAX_CHILD_CGROUPS,
  );
  return limits;
}

export function checkHolds(check: LabCheck, ctx: CheckContext): boolean {
  const { snapshot } = ctx;
  switch (check.kind) {
    case "namespace-differs-from-shell": {
      const shell = snapshot.processes.find((p) => p.hostPid === ctx.shellHostPid);
      const own = shell?.namespaces[check.namespace];
      if (own === undefined || own === null) return false;
      return snapshot.processes.some((p) => {
        const inode = p.namespaces[check.namespace];
        return p.hostPid !== ctx.shellHostPid && inode !== null && inode !== own;
      });
    }
    case "memory-limit":
      return snapshot.cgroup.memory.limitBytes.value === check.bytes || memoryLimitsInSubtree(ctx.cgroup).includes(check.bytes);
    case "oom-kill":
      return (snapshot.cgroup.memory.oomKillCount.value ?? 0) >= 1;
    case "pid-namespace-depth": {
      // nsPids lists the pid in each namespace from the host's down: [host, sandbox] for the
      // shell, one more entry for each pid namespace below the sandbox's.
      const shellDepth = snapshot.processes.find((p) => p.hostPid === ctx.shellHostPid)?.nsPids.length ?? 2;
      return snapshot.processes.some((p) => p.nsPids.length - shellDepth >= check.depth);
    }
  }
}
