"use client";

// What the kernel says about the learner's namespaces, live: each namespace type with the
// host's inode next to the sandbox's (the same number means the same namespace — `readlink
// /proc/self/ns/net` prints it as net:[4026531840]), and the learner's processes grouped by the
// namespaces they are in, so that `unshare --net sh` shows up as a new group with its own inode
// and `exit` takes it away. Plain tables: they are the picture and its text at once.

import { useEffect, useRef, useState } from "react";

import type { NamespaceType } from "../../common/lab-state";
import { useLab } from "../lab/lab-context";
import {
  type NamespaceComparison,
  type NamespaceGroup,
  compareWithHost,
  describeDifferences,
  formatPidChain,
  groupByNamespaces,
  sandboxInit,
} from "./namespace-groups";

/** What each namespace type isolates, in a few words for the comparison table. */
const ISOLATES: Record<NamespaceType, string> = {
  cgroup: "cgroup root",
  ipc: "message queues, shared memory",
  mnt: "mount table",
  net: "network devices, ports",
  pid: "process ids",
  pid_for_children: "pids of new children",
  time: "boot and monotonic clocks",
  time_for_children: "clocks of new children",
  user: "user and group ids",
  uts: "hostname",
};

const relationText: Record<NamespaceComparison["relation"], string> = {
  separate: "own",
  shared: "host's",
  absent: "none",
};

const relationStyle: Record<NamespaceComparison["relation"], string> = {
  separate: "bg-emerald-100 text-emerald-900 dark:bg-emerald-950 dark:text-emerald-200",
  shared: "bg-amber-100 text-amber-900 dark:bg-amber-950 dark:text-amber-200",
  absent: "bg-zinc-100 text-zinc-600 dark:bg-zinc-800 dark:text-zinc-400",
};

function Inode({ inode }: { inode: number | null }) {
  return inode === null ? <span className="text-zinc-500 dark:text-zinc-400">—</span> : <span className="font-mono tabular-nums">{inode}</span>;
}

/** A sentence for screen readers when a namespace group appears or goes away. */
function useGroupAnnouncement(groups: readonly NamespaceGroup[] | null): string {
  const previousRef = useRef<ReadonlyMap<string, NamespaceGroup> | null>(null);
  const [announcement, setAnnouncement] = useState("");
  useEffect(() => {
    if (!groups) return;
    const current = new Map(groups.map((group) => [group.key, group]));
    const previous = previousRef.current;
    previousRef.current = current;
    if (!previous) return;
    const added = groups.filter((group) => !previous.has(group.key) && !group.isSandbox);
    const removed = [...previous.values()].filter((group) => !current.has(group.key) && !group.isSandbox);
    const sentences = [
      ...added.map((group) => `A process is now in a ${describeDifferences(group.differences)}: ${group.differences.map((d) => `${d.type} ${d.inode ?? "none"}`).join(", ")}.`),
      ...removed.map((group) => `The ${describeDifferences(group.differences)} has no processes left.`),
    ];
    if (sentences.length > 0) setAnnouncement(sentences.join(" "));
  }, [groups]);
  return announcement;
}

export function NamespaceInspector() {
  const { live, session } = useLab();
  // Recomputed on every delta (ten a second at most): a few processes and ten namespace types
  // cost less than keeping a memo's dependencies right.
  const init = live ? sandboxInit(live.processes, session?.hostPid ?? null) : null;
  const comparison = live ? compareWithHost(live, init) : null;
  const groups = live ? groupByNamespaces(live.processes, init) : null;
  const announcement = useGroupAnnouncement(groups);

  return (
    <div data-testid="ns-inspector" className="space-y-4">
      <p className="sr-only" aria-live="polite">
        {announcement}
      </p>
      {!live || !comparison || !groups ? (
        <p className="text-sm text-zinc-600 dark:text-zinc-400">
          {session ? "Reading your sandbox's namespaces…" : "Your sandbox's namespaces appear here once it is running."}
        </p>
      ) : (
        <>
          <NamespaceComparisonTable rows={comparison} />
          <section aria-labelledby="ns-groups-title" className="space-y-2">
            <h3 id="ns-groups-title" className="text-sm font-semibold">
              Your processes by namespace
            </h3>
            {groups.map((group) => (
              <NamespaceGroupTable key={group.key} group={group} />
            ))}
          </section>
        </>
      )}
    </div>
  );
}

function NamespaceComparisonTable({ rows }: { rows: readonly NamespaceComparison[] }) {
  return (
    <table className="w-full text-left text-xs" data-testid="ns-comparison">
      <caption className="mb-1 text-left text-sm font-semibold">Namespaces: the host&apos;s and your sandbox&apos;s</caption>
      <thead className="text-zinc-600 dark:text-zinc-400">
        <tr className="border-b border-zinc-200 dark:border-zinc-800">
          <th scope="col" className="py-1 pr-2 font-medium">
            Type
          </th>
          <th scope="col" className="py-1 pr-2 font-medium">
            Host inode
          </th>
          <th scope="col" className="py-1 pr-2 font-medium">
            Sandbox inode
          </th>
          <th scope="col" className="py-1 font-medium">
            Sandbox has
          </th>
        </tr>
      </thead>
      <tbody>
        {rows.map((row) => (
          <tr key={row.type} className="border-b border-zinc-100 last:border-0 dark:border-zinc-800/60" data-testid={`ns-row-${row.type}`} data-relation={row.relation}>
            <th scope="row" className="py-1 pr-2 font-normal">
              <span className="font-mono">{row.type}</span>
              <span className="block text-[11px] text-zinc-500 dark:text-zinc-400">{ISOLATES[row.type]}</span>
            </th>
            <td className="py-1 pr-2" data-testid={`ns-host-${row.type}`}>
              <Inode inode={row.hostInode} />
            </td>
            <td className="py-1 pr-2" data-testid={`ns-sandbox-${row.type}`}>
              <Inode inode={row.sandboxInode} />
            </td>
            <td className="py-1">
              <span className={`inline-block rounded px-1.5 py-0.5 text-[11px] font-medium ${relationStyle[row.relation]}`}>
                {relationText[row.relation]}
                <span className="sr-only">{row.relation === "separate" ? " namespace, different inode" : row.relation === "shared" ? " namespace, same inode" : ""}</span>
              </span>
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function NamespaceGroupTable({ group }: { group: NamespaceGroup }) {
  const titleId = `ns-group-${group.key.replaceAll(":", "-")}`;
  return (
    <section
      aria-labelledby={titleId}
      data-testid="ns-group"
      data-sandbox={group.isSandbox ? "true" : "false"}
      className={`rounded-lg border p-2 ${group.isSandbox ? "border-zinc-200 dark:border-zinc-800" : "border-emerald-300 bg-emerald-50/50 dark:border-emerald-800 dark:bg-emerald-950/30"}`}
    >
      <h4 id={titleId} className="text-xs font-semibold">
        {group.isSandbox ? "In your sandbox's namespaces" : `In a ${describeDifferences(group.differences)}`}
        {group.differences.map((difference) => (
          <span key={difference.type} className="ml-2 font-mono font-normal" data-testid={`ns-group-${difference.type}`}>
            {difference.type}:[{difference.inode ?? "none"}]
          </span>
        ))}
      </h4>
      <table className="mt-1 w-full text-left text-xs">
        <thead className="text-zinc-600 dark:text-zinc-400">
          <tr>
            <th scope="col" className="pr-2 font-medium">
              Host pid
            </th>
            <th scope="col" className="pr-2 font-medium">
              Pid in each pid namespace
            </th>
            <th scope="col" className="font-medium">
              Command
            </th>
          </tr>
        </thead>
        <tbody>
          {group.processes.map((process) => (
            <tr key={process.hostPid}>
              <td className="pr-2 font-mono tabular-nums">{process.hostPid}</td>
              <td className="pr-2 font-mono tabular-nums">{formatPidChain(process.nsPids)}</td>
              <td className="font-mono">{process.command}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}
