// A sandbox's resource limits in `docker run`'s terms, and the rules docker applies to them.
// Shared: the limits panel checks a value at the control before sending it, the server checks
// it again before writing anything to the kernel, and `nslab run` checks its flags the same way.

// zod's functional API (zod/mini): `nslab run` reads these on its way to the sandbox, and the
// chained API costs ≈ 100 ms to load where this costs ≈ 18 (see ARCHITECTURE.md).
import * as z from "zod/mini";

export const MiB = 1024 * 1024;
/** docker's minimum for --memory. */
export const MIN_MEMORY_BYTES = 6 * MiB;
/** The kernel's pid_max ceiling. */
export const MAX_PIDS = 4194304;

export const Limits = z.object({
  /** Hard memory limit in bytes (docker --memory). */
  memoryBytes: z.int().check(z.positive()),
  /** Memory plus swap in bytes (docker --memory-swap); equal to memoryBytes means no swap,
   *  -1 unlimited swap. */
  memorySwapBytes: z.int().check(z.minimum(-1)),
  /** CPUs as a fraction of one core (docker --cpus). */
  cpus: z.number().check(z.positive()),
  /** Process and thread limit (docker --pids-limit); -1 means none. */
  pids: z.int().check(z.minimum(-1)),
});
export type Limits = z.infer<typeof Limits>;

/** A sandbox's limits where nobody chose others: the first lesson's own example (--memory 256m
 *  --memory-swap 256m --cpus 0.5 --pids-limit 100), so that its numbers hold. The operator
 *  may set others (NSLAB_MEMORY, NSLAB_MEMORY_SWAP, NSLAB_CPUS, NSLAB_PIDS_LIMIT). */
export const LAB_DEFAULT_LIMITS: Readonly<Limits> = Object.freeze({ memoryBytes: 256 * MiB, memorySwapBytes: 256 * MiB, cpus: 0.5, pids: 100 });

/** What the host has, for the upper bounds. */
export interface HostCapacity {
  cpus: number;
  memoryBytes: number;
}

export type LimitField = keyof Limits;

export type LimitsCheck = { ok: true } | { ok: false; field: LimitField; message: string };

/** Docker's size syntax (go-units RAMInBytes): 1024-based, unit letter optional, "b"/"ib" optional. */
export function parseSize(text: string): number | null {
  const m = /^(\d+(?:\.\d+)?)\s*([kmgtp])?(i?b)?$/i.exec(text.trim());
  if (!m) return null;
  const unit = (m[2] ?? "").toLowerCase();
  if (!unit && m[3]) return null; // "12ib" is not a size
  const power = unit ? "kmgtp".indexOf(unit) + 1 : 0;
  const bytes = Math.floor(Number(m[1]) * 1024 ** power);
  return Number.isSafeInteger(bytes) ? bytes : null;
}

const NOT_A_SIZE = "Not a size: write a number with an optional unit, like 64m or 1g.";

/** One limit as typed in docker's syntax ("256m", "-1", "0.5", "100") read into its number, or
 *  the sentence that says why it is not one; the rules between limits are checkLimits'. The
 *  limits panel, the class form and the server's NSLAB_MEMORY… settings read them alike. */
export function parseLimitInput(field: LimitField, text: string): { ok: true; value: number } | { ok: false; message: string } {
  const trimmed = text.trim();
  switch (field) {
    case "memoryBytes": {
      const bytes = parseSize(trimmed);
      return bytes === null ? { ok: false, message: NOT_A_SIZE } : { ok: true, value: bytes };
    }
    case "memorySwapBytes": {
      if (trimmed === "-1") return { ok: true, value: -1 };
      const bytes = parseSize(trimmed);
      return bytes === null ? { ok: false, message: `${NOT_A_SIZE} -1 allows unlimited swap.` } : { ok: true, value: bytes };
    }
    case "cpus": {
      if (!/^(\d+(\.\d*)?|\.\d+)$/.test(trimmed)) return { ok: false, message: "Not a number of CPUs: write one like 0.5 or 2." };
      return { ok: true, value: Number(trimmed) };
    }
    case "pids": {
      if (!/^-?\d+$/.test(trimmed)) return { ok: false, message: "Not a whole number: write one like 100, or -1 for no limit." };
      const pids = Number(trimmed);
      return pids < -1 ? { ok: false, message: "The pids limit is a number from 1 up, or -1 for no limit." } : { ok: true, value: pids };
    }
  }
}

/** 268435456 -> "256m", 1536 MiB -> "1536m", 1 GiB -> "1g": the shortest exact docker size. */
export function formatSize(bytes: number): string {
  if (bytes < 0) return "-1";
  for (const [unit, size] of [["g", 1024 * MiB], ["m", MiB], ["k", 1024]] as const) {
    if (bytes >= size && bytes % size === 0) return `${bytes / size}${unit}`;
  }
  return String(bytes);
}

/** The checks `docker run` and `docker update` make, with their meaning in one sentence each. */
export function checkLimits(limits: Limits, host: HostCapacity): LimitsCheck {
  if (limits.memoryBytes < MIN_MEMORY_BYTES) return { ok: false, field: "memoryBytes", message: "The minimum memory limit is 6m." };
  if (limits.memoryBytes > host.memoryBytes) {
    return { ok: false, field: "memoryBytes", message: `This host has only ${formatSize(host.memoryBytes)} of memory.` };
  }
  if (limits.memorySwapBytes !== -1 && limits.memorySwapBytes < limits.memoryBytes) {
    return {
      ok: false,
      field: "memorySwapBytes",
      message: "--memory-swap is memory plus swap, so it cannot be below --memory (equal means no swap, -1 unlimited).",
    };
  }
  if (limits.cpus < 0.01 || limits.cpus > host.cpus) {
    return { ok: false, field: "cpus", message: `CPUs range from 0.01 to ${host.cpus.toFixed(2)} on this host.` };
  }
  if (limits.pids === 0 || limits.pids > MAX_PIDS) {
    return { ok: false, field: "pids", message: `The pids limit is a number from 1 to ${MAX_PIDS}, or -1 for none.` };
  }
  return { ok: true };
}

/**
 * A learner may change their sandbox's limits from the page, but only within the ones the lab
 * gave the session (its starting limits): lower is always fine, higher than that never. The
 * operator's per-learner limits are what keep one learner from taking the host.
 */
export function checkWithinCeiling(limits: Limits, ceiling: Limits): LimitsCheck {
  const over = (field: LimitField, what: string) => ({
    ok: false as const,
    field,
    message: `This lab allows ${what} at most; lower is fine, higher is up to the lab's operator.`,
  });
  if (limits.memoryBytes > ceiling.memoryBytes) return over("memoryBytes", `--memory ${formatSize(ceiling.memoryBytes)}`);
  if (ceiling.memorySwapBytes !== -1 && (limits.memorySwapBytes === -1 || limits.memorySwapBytes > ceiling.memorySwapBytes)) {
    return over("memorySwapBytes", `--memory-swap ${formatSize(ceiling.memorySwapBytes)}`);
  }
  if (limits.cpus > ceiling.cpus) return over("cpus", `--cpus ${ceiling.cpus}`);
  if (ceiling.pids !== -1 && (limits.pids === -1 || limits.pids > ceiling.pids)) return over("pids", `--pids-limit ${ceiling.pids}`);
  return { ok: true };
}
