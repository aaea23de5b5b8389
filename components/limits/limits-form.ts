// The limits panel's rules, apart from its markup: what each control shows, how a learner's
// text becomes a limit (docker's syntax: "64m", "-1"), and which message goes to which control
// when it is not one. Nothing is sent until every control reads and docker's checks pass.

import { type HostCapacity, type LimitField, type Limits, checkLimits, formatSize, parseLimitInput } from "../../common/limits";

export { parseLimitInput };
import type { CgroupFileWrite } from "../../common/protocol";

export type LimitInputs = Record<LimitField, string>;
export type LimitErrors = Partial<Record<LimitField, string>>;

export interface LimitControl {
  field: LimitField;
  label: string;
  flag: CgroupFileWrite["flag"];
  /** What the control takes, for its hint. */
  syntax: string;
  /** Where the same limit lives on the other cgroup version, for the comparison in the hint. */
  otherVersionFile: Record<1 | 2, string>;
}

export const LIMIT_CONTROLS: readonly LimitControl[] = [
  {
    field: "memoryBytes",
    label: "Memory",
    flag: "--memory",
    syntax: "a size: 64m, 1g",
    otherVersionFile: { 1: "memory.limit_in_bytes", 2: "memory.max" },
  },
  {
    field: "memorySwapBytes",
    label: "Memory + swap",
    flag: "--memory-swap",
    syntax: "a size, equal to memory for no swap, or -1 for unlimited",
    otherVersionFile: { 1: "memory.memsw.limit_in_bytes", 2: "memory.swap.max (swap alone)" },
  },
  {
    field: "cpus",
    label: "CPUs",
    flag: "--cpus",
    syntax: "a number of CPUs: 0.5, 1.5",
    otherVersionFile: { 1: "cpu.cfs_quota_us / cpu.cfs_period_us", 2: "cpu.max" },
  },
  {
    field: "pids",
    label: "Processes",
    flag: "--pids-limit",
    syntax: "a whole number, or -1 for no limit",
    otherVersionFile: { 1: "pids.max", 2: "pids.max" },
  },
];

/** How a limit is written in a control: docker's own spelling. */
export function inputsFromLimits(limits: Limits): LimitInputs {
  return {
    memoryBytes: formatSize(limits.memoryBytes),
    memorySwapBytes: limits.memorySwapBytes === -1 ? "-1" : formatSize(limits.memorySwapBytes),
    cpus: String(limits.cpus),
    pids: String(limits.pids),
  };
}

export type LimitsFormResult =
  | { ok: true; change: Partial<Limits> }
  | { ok: false; errors: LimitErrors; /** A message for the whole form, when no control is at fault. */ message: string | null };

/**
 * The change to send for what the controls say: only the limits that differ from `current`, as
 * `docker update` sends only the flags given. Checked as docker checks, against the limits as
 * they would be after the change.
 */
export function readLimitsForm(inputs: LimitInputs, current: Limits, host: HostCapacity): LimitsFormResult {
  const errors: LimitErrors = {};
  const change: Partial<Limits> = {};
  for (const { field } of LIMIT_CONTROLS) {
    const parsed = parseLimitInput(field, inputs[field]);
    if (!parsed.ok) errors[field] = parsed.message;
    else if (parsed.value !== current[field]) change[field] = parsed.value;
  }
  if (Object.keys(errors).length > 0) return { ok: false, errors, message: null };
  if (Object.keys(change).length === 0) return { ok: false, errors: {}, message: "These are the limits already in force; change one first." };
  const check = checkLimits({ ...current, ...change }, host);
  if (!check.ok) return { ok: false, errors: { [check.field]: check.message }, message: null };
  return { ok: true, change };
}

/** `docker update --memory 64m lab-1a2b3c`: the command the change stands for. */
export function dockerUpdateCommand(change: Partial<Limits>, hostname: string): string {
  const flags = LIMIT_CONTROLS.filter(({ field }) => change[field] !== undefined).map(({ field, flag }) => {
    const value = change[field] as number;
    const text = field === "memoryBytes" || (field === "memorySwapBytes" && value !== -1) ? formatSize(value) : String(value);
    return `${flag} ${text}`;
  });
  return ["docker update", ...flags, hostname].join(" ");
}

/** The files a flag was written to on this host. */
export function filesForFlag(cgroupFiles: readonly CgroupFileWrite[], flag: CgroupFileWrite["flag"]): CgroupFileWrite[] {
  return cgroupFiles.filter((write) => write.flag === flag);
}
