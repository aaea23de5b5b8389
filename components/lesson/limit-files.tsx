"use client";

// Docker's resource flags and the cgroup files they become, on cgroup v1 and v2 — and, when a
// sandbox is connected, the files and values nslab's server wrote for this learner on this host.
// Docker is not in the lab; these writes are the primitive it would have made.

import { useOptionalLab } from "../lab/lab-context";

interface FlagRow {
  flag: string;
  meaning: string;
  v1: string;
  v2: string;
}

/** `docker run --memory=256m --memory-swap=256m --cpus=0.5 --pids-limit=100`, file by file. */
export const FLAG_ROWS: readonly FlagRow[] = [
  {
    flag: "--memory=256m",
    meaning: "hard memory limit",
    v1: "memory/memory.limit_in_bytes = 268435456",
    v2: "memory.max = 268435456",
  },
  {
    flag: "--memory-swap=256m",
    meaning: "memory plus swap; equal to --memory means no swap",
    v1: "memory/memory.memsw.limit_in_bytes = 268435456 (memory + swap)",
    v2: "memory.swap.max = 0 (swap alone: 256m − 256m)",
  },
  {
    flag: "--cpus=0.5",
    meaning: "half of one CPU, per 100 ms period",
    v1: "cpu/cpu.cfs_quota_us = 50000 and cpu/cpu.cfs_period_us = 100000",
    v2: 'cpu.max = "50000 100000"',
  },
  {
    flag: "--pids-limit=100",
    meaning: "at most 100 processes and threads",
    v1: "pids/pids.max = 100",
    v2: "pids.max = 100",
  },
];

export function LimitFiles() {
  const lab = useOptionalLab();
  const version = lab?.session?.cgroupVersion ?? null;
  // Only while a session is live: the files of a sandbox that has ended are not "live" any more.
  const written = lab?.session ? (lab.limits?.cgroupFiles ?? lab.session.cgroupFiles) : [];
  const highlight = (v: 1 | 2) => (version === v ? "bg-sky-50 font-medium dark:bg-sky-950/40" : "");

  return (
    <figure className="my-6">
      <div className="overflow-x-auto rounded-lg border border-zinc-200 dark:border-zinc-800">
        <table className="w-full min-w-[36rem] border-collapse text-left text-sm">
          <caption className="px-3 pt-3 pb-2 text-left text-sm text-zinc-600 dark:text-zinc-400">
            Where each <code className="font-mono">docker run</code> flag lands, relative to the container&apos;s cgroup
            {version ? ` (this host runs cgroup v${version}, highlighted)` : ""}.
          </caption>
          <thead className="border-y border-zinc-200 bg-zinc-50 dark:border-zinc-800 dark:bg-zinc-900">
            <tr>
              <th scope="col" className="px-3 py-2 font-semibold">
                Flag
              </th>
              <th scope="col" className={`px-3 py-2 font-semibold ${highlight(1)}`}>
                cgroup v1 file
              </th>
              <th scope="col" className={`px-3 py-2 font-semibold ${highlight(2)}`}>
                cgroup v2 file
              </th>
            </tr>
          </thead>
          <tbody>
            {FLAG_ROWS.map((row) => (
              <tr key={row.flag} className="border-b border-zinc-200 align-top last:border-0 dark:border-zinc-800">
                <th scope="row" className="px-3 py-2 font-normal">
                  <code className="font-mono">{row.flag}</code>
                  <span className="block text-xs text-zinc-600 dark:text-zinc-400">{row.meaning}</span>
                </th>
                <td className={`px-3 py-2 font-mono text-xs leading-5 ${highlight(1)}`}>{row.v1}</td>
                <td className={`px-3 py-2 font-mono text-xs leading-5 ${highlight(2)}`}>{row.v2}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {written.length > 0 ? (
        <figcaption className="mt-3 text-sm leading-6 text-zinc-700 dark:text-zinc-300" data-testid="limit-files-live">
          <span className="mr-1 rounded bg-emerald-100 px-1.5 py-0.5 text-xs font-semibold text-emerald-900 dark:bg-emerald-900/50 dark:text-emerald-200">
            live
          </span>
          For your sandbox, nslab&apos;s server wrote:{" "}
          {written.map((write, index) => (
            <span key={`${write.flag}-${write.file}`}>
              {index > 0 ? "; " : ""}
              <code className="font-mono text-xs">{write.flag}</code> → <code className="font-mono text-xs">{write.file}</code> ={" "}
              <code className="font-mono text-xs">{write.value}</code>
            </span>
          ))}
          .
        </figcaption>
      ) : (
        <figcaption className="mt-3 text-sm text-zinc-600 dark:text-zinc-400">
          Reference values. When your sandbox is connected, the files nslab wrote for it appear here.
        </figcaption>
      )}
    </figure>
  );
}
