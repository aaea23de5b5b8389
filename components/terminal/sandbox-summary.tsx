// The few facts about the learner's sandbox that the first lesson points at: its hostname, the
// pid its shell has on the host, the cgroup version, and the limits it runs under now (the
// limits panel may have changed them since the session started).

import type { Limits } from "../../common/limits";
import type { SessionReady } from "./lab-state";

const MiB = 1024 * 1024;

function formatBytes(bytes: number): string {
  return bytes % MiB === 0 ? `${bytes / MiB} MiB` : `${(bytes / MiB).toFixed(1)} MiB`;
}

/** Docker's --memory-swap counts memory plus swap: equal to the memory limit means no swap. */
function formatSwap(memoryBytes: number, memorySwapBytes: number): string {
  if (memorySwapBytes === -1) return "unlimited swap";
  if (memorySwapBytes <= memoryBytes) return "swap off";
  return `${formatBytes(memorySwapBytes - memoryBytes)} swap`;
}

function formatStartup(session: SessionReady): string | null {
  const last = session.startup.at(-1);
  return last ? `started in ${last.atMs < 10 ? last.atMs.toFixed(1) : Math.round(last.atMs)} ms` : null;
}

export function SandboxSummary({ session, limits }: { session: SessionReady; limits: Limits }) {
  const startup = formatStartup(session);
  return (
    <dl className="flex flex-wrap gap-x-4 gap-y-1 text-xs text-zinc-600 dark:text-zinc-400">
      <div className="flex gap-1">
        <dt className="sr-only">Hostname</dt>
        <dd className="font-mono font-semibold text-zinc-900 dark:text-zinc-100" data-testid="sandbox-hostname">
          {session.hostname}
        </dd>
      </div>
      <div className="flex gap-1">
        <dt>host pid</dt>
        <dd className="font-mono text-zinc-900 dark:text-zinc-100" data-testid="sandbox-host-pid">
          {session.hostPid}
        </dd>
      </div>
      <div className="flex gap-1">
        <dt>cgroup</dt>
        <dd className="font-mono text-zinc-900 dark:text-zinc-100">v{session.cgroupVersion}</dd>
      </div>
      <div className="flex gap-1">
        <dt className="sr-only">Limits</dt>
        <dd>
          {formatBytes(limits.memoryBytes)} · {formatSwap(limits.memoryBytes, limits.memorySwapBytes)} · {limits.cpus} CPU ·{" "}
          {limits.pids === -1 ? "no pids limit" : `${limits.pids} pids`}
        </dd>
      </div>
      {startup ? (
        <div className="flex gap-1">
          <dt className="sr-only">Start-up</dt>
          <dd>{startup}</dd>
        </div>
      ) : null}
    </dl>
  );
}
