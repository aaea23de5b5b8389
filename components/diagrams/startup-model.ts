// The start-up timeline's data: the launcher's measured steps for the learner's sandbox (from
// session.ready), each placed under the step of `docker run` it corresponds to, and the hops
// Docker makes before any of that (CLI -> dockerd -> containerd -> runc), which nslab does not.

import type { LaunchStep, LaunchStepName } from "../../common/launch-events";

export type DockerStageNumber = 1 | 2 | 3 | 4 | 5 | 6 | 7;

export interface DockerStage {
  n: DockerStageNumber;
  title: string;
  /** What Docker does at this stage. */
  docker: string;
  /** What nslab does instead, when it skips the stage. */
  nslabSkips: string | null;
}

export const DOCKER_STAGES: readonly DockerStage[] = [
  {
    n: 1,
    title: "CLI → dockerd",
    docker: "The docker CLI sends a REST request over the Unix socket /var/run/docker.sock to the Docker daemon.",
    nslabSkips: "No daemon hop: your page's WebSocket to the lab server was already open.",
  },
  {
    n: 2,
    title: "dockerd → containerd",
    docker: "dockerd asks containerd, over gRPC, to create and start the container.",
    nslabSkips: "Skipped: nslab's server has no containerd in between.",
  },
  {
    n: 3,
    title: "containerd → runc",
    docker: "containerd starts a shim (containerd-shim-runc-v2), which runs runc with an OCI bundle: a config.json and a root filesystem.",
    nslabSkips: null,
  },
  { n: 4, title: "clone() with namespace flags", docker: "runc creates the container's process in new namespaces.", nslabSkips: null },
  { n: 5, title: "cgroup writes", docker: "runc writes the limits into the container's cgroup and puts the process in it.", nslabSkips: null },
  { n: 6, title: "OverlayFS root", docker: "The image layers, with a writable layer on top, become the container's root filesystem.", nslabSkips: null },
  { n: 7, title: "The process starts", docker: "The container's program is exec'd as pid 1 of its pid namespace.", nslabSkips: null },
];

/** The steps a sandbox that started reports (the two failure reports never reach the page). */
type StartedStep = Exclude<LaunchStepName, "exec-failed" | "error">;

/** Where each of the launcher's steps belongs, and what it did: every step the launcher can
 *  report on a successful start has an entry (the compiler holds this table to the enum). */
export const LAUNCHER_STEPS: Readonly<Record<StartedStep, { stage: DockerStageNumber; label: string; detail: string }>> = {
  start: { stage: 3, label: "launcher starts", detail: "The server started nslab's launcher (its runc) directly; the launcher checked its arguments." },
  layer: { stage: 6, label: "writable layer", detail: "A private mount namespace for the launcher, and a size-limited tmpfs for your writable layer." },
  clone: { stage: 4, label: "clone()", detail: "clone() with new user, pid, net, uts and ipc namespaces: your future pid 1 exists, waiting." },
  "uid-map": { stage: 4, label: "uid/gid maps", detail: "Root inside your user namespace mapped to an unprivileged uid range on the host." },
  overlay: { stage: 6, label: "OverlayFS root", detail: "The image, read-only and id-mapped, under your writable layer: your root filesystem." },
  cgroup: { stage: 5, label: "join cgroup", detail: "Your process moved into its cgroup, whose limits the server had written just before." },
  identity: { stage: 4, label: "become root", detail: "The child became uid 0 of its user namespace — an unprivileged uid on the host." },
  mounts: { stage: 6, label: "mounts", detail: "New mount and cgroup namespaces; a fresh /proc, the cgroup filesystem, /dev and /tmp." },
  "uts-net": { stage: 4, label: "hostname, loopback", detail: "Your hostname set in your uts namespace; the loopback interface of your net namespace brought up." },
  "pivot-root": { stage: 6, label: "pivot_root", detail: "pivot_root into the overlay and the host's tree detached: no path back." },
  exec: { stage: 7, label: "exec", detail: "Seccomp filter installed, then exec of your shell as pid 1." },
};

export interface TimelineBar {
  step: LaunchStepName;
  label: string;
  detail: string;
  /** null for a step this version of the lesson does not know. */
  stage: DockerStageNumber | null;
  startMs: number;
  endMs: number;
}

/** The launcher reports each step when it ends; a bar runs from the previous report to this one. */
export function timelineBars(steps: readonly LaunchStep[]): TimelineBar[] {
  const sorted = [...steps].sort((a, b) => a.atMs - b.atMs);
  return sorted.map((step, index) => {
    const known = step.step in LAUNCHER_STEPS ? LAUNCHER_STEPS[step.step as StartedStep] : undefined;
    return {
      step: step.step,
      label: known?.label ?? step.step,
      detail: known?.detail ?? "A step of the launcher.",
      stage: known?.stage ?? null,
      startMs: index === 0 ? 0 : (sorted[index - 1]?.atMs ?? 0),
      endMs: step.atMs,
    };
  });
}

/** Total milliseconds per docker stage, for the text version. */
export function stageTotals(bars: readonly TimelineBar[]): Map<DockerStageNumber | null, number> {
  const totals = new Map<DockerStageNumber | null, number>();
  for (const bar of bars) totals.set(bar.stage, (totals.get(bar.stage) ?? 0) + (bar.endMs - bar.startMs));
  return totals;
}

export function formatMs(ms: number): string {
  if (ms === 0) return "0 ms";
  if (ms >= 1000) return `${Number((ms / 1000).toFixed(ms >= 10_000 ? 0 : 1))} s`;
  if (ms >= 10) return `${Math.round(ms)} ms`;
  return `${Number(ms.toFixed(ms >= 1 ? 1 : 2))} ms`;
}

/**
 * Reference figures: one start-up of a sandbox measured on a lab server (cgroup v1, Linux 6.18,
 * 2 CPUs), shown when no live session is connected. Not this learner's sandbox.
 */
export const REFERENCE_STARTUP: readonly LaunchStep[] = [
  { step: "start", atMs: 0.17 },
  { step: "layer", atMs: 0.36 },
  { step: "clone", atMs: 2.11 },
  { step: "uid-map", atMs: 2.17 },
  { step: "overlay", atMs: 2.42 },
  { step: "cgroup", atMs: 15.9 },
  { step: "identity", atMs: 16.01 },
  { step: "mounts", atMs: 16.63 },
  { step: "uts-net", atMs: 16.79 },
  { step: "pivot-root", atMs: 16.99 },
  { step: "exec", atMs: 17.22 },
];

/** "50–300 ms", "5–60 s", or one figure when low and high are the same. */
export function formatMsRange(lowMs: number, highMs: number): string {
  if (lowMs === highMs) return formatMs(lowMs);
  const [low, high] = [formatMs(lowMs), formatMs(highMs)];
  const unit = (text: string) => text.replace(/^[\d.]+ /, "");
  return unit(low) === unit(high) ? `${low.replace(/ \S+$/, "")}–${high}` : `${low}–${high}`;
}

/** Typical start-up times the lesson quotes, for the comparison on a log scale. */
export interface StartupRange {
  id: string;
  label: string;
  lowMs: number;
  highMs: number;
  note: string;
}

export const TYPICAL_STARTUPS: readonly StartupRange[] = [
  { id: "docker", label: "docker run (typical)", lowMs: 50, highMs: 300, note: "a container: no kernel to boot" },
  { id: "firecracker", label: "Firecracker microVM", lowMs: 125, highMs: 125, note: "about 125 ms to boot a minimal guest kernel" },
  { id: "vm", label: "VM boot (typical)", lowMs: 5_000, highMs: 60_000, note: "a full guest kernel and init system" },
];
