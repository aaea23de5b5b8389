// The instructor's limits, as typed: docker's syntax ("256m", "0.5", "100", "-1") read into
// numbers, and docker's rules between them checked before anything is sent. The host's own
// bounds (how much memory and how many CPUs it has) only the server knows; it answers those with
// the field at fault, and a sandbox that cannot take a change says so in the result.

import { type LimitsChangeResult } from "../../common/classroom";
import { LAB_DEFAULT_LIMITS, type LimitField, type Limits, MAX_PIDS, MIN_MEMORY_BYTES, formatSize } from "../../common/limits";
import { LIMIT_CONTROLS, parseLimitInput } from "../limits/limits-form";

export type LimitInputs = Record<LimitField, string>;
export type LimitErrors = Partial<Record<LimitField, string>>;

/** The built-in defaults, where the server has not said its own (GET /api/classes does). */
export { LAB_DEFAULT_LIMITS };

/** The controls, in the order the lab's own limits panel shows them, with their docker flags. */
export const LIMIT_FIELDS = LIMIT_CONTROLS.map(({ field, label, flag, syntax }) => ({ field, label, flag, syntax }));

/** How a limit is written in a control: docker's own spelling. */
export function limitText(field: LimitField, value: number): string {
  if (field === "memoryBytes" || field === "memorySwapBytes") return value === -1 ? "-1" : formatSize(value);
  return String(value);
}

export function limitInputs(limits: Limits): LimitInputs {
  return {
    memoryBytes: limitText("memoryBytes", limits.memoryBytes),
    memorySwapBytes: limitText("memorySwapBytes", limits.memorySwapBytes),
    cpus: limitText("cpus", limits.cpus),
    pids: limitText("pids", limits.pids),
  };
}

export const BLANK_LIMIT_INPUTS: LimitInputs = { memoryBytes: "", memorySwapBytes: "", cpus: "", pids: "" };

/** docker's rules for a whole set of limits, less the host's bounds; the first broken one. */
export function checkLimitRules(limits: Limits): { field: LimitField; message: string } | null {
  if (limits.memoryBytes < MIN_MEMORY_BYTES) return { field: "memoryBytes", message: "The minimum memory limit is 6m." };
  if (limits.memorySwapBytes !== -1 && limits.memorySwapBytes < limits.memoryBytes) {
    return {
      field: "memorySwapBytes",
      message: `Memory + swap (${formatSize(limits.memorySwapBytes)}) cannot be below memory (${formatSize(limits.memoryBytes)}): make it equal to memory for no swap, larger to allow swap, or -1 for unlimited.`,
    };
  }
  if (limits.cpus < 0.01) return { field: "cpus", message: "The smallest CPU limit is 0.01." };
  if (limits.pids === 0 || limits.pids > MAX_PIDS) {
    return { field: "pids", message: `The processes limit is a number from 1 to ${MAX_PIDS}, or -1 for none.` };
  }
  return null;
}

/** Every control read, all of them required (a new class's limits); `defaults`, the lab's own,
 *  are named where a control was left empty. */
export function readAllLimits(inputs: LimitInputs, defaults: Readonly<Limits> = LAB_DEFAULT_LIMITS): { ok: true; limits: Limits } | { ok: false; errors: LimitErrors } {
  const errors: LimitErrors = {};
  const limits: Partial<Limits> = {};
  for (const { field } of LIMIT_FIELDS) {
    if (inputs[field].trim() === "") {
      errors[field] = "Give a value; the lab's default is " + limitText(field, defaults[field]) + ".";
      continue;
    }
    const parsed = parseLimitInput(field, inputs[field]);
    if (parsed.ok) limits[field] = parsed.value;
    else errors[field] = parsed.message;
  }
  if (Object.keys(errors).length > 0) return { ok: false, errors };
  const complete = limits as Limits;
  const broken = checkLimitRules(complete);
  return broken ? { ok: false, errors: { [broken.field]: broken.message } } : { ok: true, limits: complete };
}

export type LimitsChangeRead = { ok: true; change: Partial<Limits> } | { ok: false; errors: LimitErrors; message: string | null };

/**
 * A change of limits, as `docker update` takes one: only the controls filled in are changed,
 * and the rules are checked against `base` with the change applied (the class's limits for a
 * change to everyone, the learner's own for one learner).
 */
export function readLimitsChange(inputs: LimitInputs, base: Limits): LimitsChangeRead {
  const errors: LimitErrors = {};
  const change: Partial<Limits> = {};
  for (const { field } of LIMIT_FIELDS) {
    if (inputs[field].trim() === "") continue;
    const parsed = parseLimitInput(field, inputs[field]);
    if (parsed.ok) change[field] = parsed.value;
    else errors[field] = parsed.message;
  }
  if (Object.keys(errors).length > 0) return { ok: false, errors, message: null };
  if (Object.keys(change).length === 0) return { ok: false, errors: {}, message: "Fill in at least one limit; the ones left blank stay as they are." };
  const broken = checkLimitRules({ ...base, ...change });
  return broken ? { ok: false, errors: { [broken.field]: broken.message }, message: null } : { ok: true, change };
}

/** The limit a server error names, whether it says "memoryBytes" or "limits.memoryBytes". */
export function limitFieldFromApi(field: string | undefined): LimitField | null {
  const name = field?.replace(/^limits\./, "");
  return LIMIT_FIELDS.find((control) => control.field === name)?.field ?? null;
}

/** What a change did, for the instructor: how many sandboxes took it, and who did not, why. */
export function summarizeLimitsResult(result: LimitsChangeResult): {
  applied: number;
  failed: Array<{ memberId: string; name: string; message: string }>;
} {
  const failed = result.results
    .filter((entry) => !entry.ok)
    .map((entry) => ({ memberId: entry.memberId, name: entry.name, message: entry.message ?? "The sandbox refused the change and gave no reason." }));
  return { applied: result.results.length - failed.length, failed };
}

/** "--memory 512m --pids-limit 200": the flags a change stands for. */
export function limitFlags(limits: Partial<Limits>): string {
  return LIMIT_FIELDS.filter(({ field }) => limits[field] !== undefined)
    .map(({ field, flag }) => `${flag} ${limitText(field, limits[field] as number)}`)
    .join(" ");
}
