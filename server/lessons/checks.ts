// Lab-step checks, made against kernel state: the probes' snapshot of the learner's processes
// and cgroup, plus the memory limits of the child cgroups they made. Never against what they
// typed: a step is done when the kernel says so.
import path from "node:path";

import type { ProbeSnapshot } from "../../common/lab-state";
import type { LabCheck } from "../../common/lab-steps";
import { walkCgroupTree } from "../kernel/cgroup-tree";
import { readKernelFile } from "../probes/kernel-files";
import { MAX_CHILD_CGROUPS, type SessionCgroup } from "../sandbox/cgroup/driver";

export interface CheckContext {
  snapshot: ProbeSnapshot;
  /** Host pid of the sandbox's shell (its pid 1). */
  shellHostPid: number;
  cgroup: SessionCgroup;
}

/** Memory limits of the session's cgroup and of the cgroups the learner made below it, as many
 *  as a session may hold (MAX_CHILD_CGROUPS): a check runs every second and on every delta. */
export function memoryLimitsInSubtree(cgroup: SessionCgroup): number[] {
  const [dir, file] = cgroup.version === 1 ? [cgroup.memory, "memory.limit_in_bytes"] : [cgroup.dir, "memory.max"];
  const limits: number[] = [];
  walkCgroupTree(dir, { maxCgroups: MAX_CHILD_CGROUPS, maxDepth: MAX_CHILD_CGROUPS }, {
    enter: (child) => {
      // null: removed while we looked. "max" (v2's no limit) is no number.
      const text = readKernelFile(path.join(child.dir, file))?.trim() ?? "";
      if (/^\d+$/.test(text)) limits.push(Number(text));
    },
  });
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
