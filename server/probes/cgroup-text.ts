// The text formats cgroup interface files use, as Documentation/admin-guide/cgroup-v2.rst
// names them ("Interface Files" > "Format"); v1 files use the same shapes. Pure functions:
// a file whose text does not match its documented format throws, naming the file, because
// that means this code misreads the kernel — a silent null would show a learner a wrong chart.

/** A non-negative or negative integer, e.g. "67108864", "-1" (v1 cfs_quota_us). */
const INTEGER = /^-?\d+$/;

export class CgroupFormatError extends Error {
  constructor(file: string, text: string, expected: string) {
    super(`${file}: expected ${expected}, read ${JSON.stringify(text.slice(0, 80))}`);
    this.name = "CgroupFormatError";
  }
}

/** A single value file holding one integer ("memory.current", "pids.current"). */
export function parseInteger(text: string, file: string): number {
  const value = text.trim();
  if (!INTEGER.test(value)) throw new CgroupFormatError(file, text, "an integer");
  return Number(value);
}

/** A single value file holding an integer or "max" for no limit ("memory.max", "pids.max");
 *  "max" becomes null. */
export function parseIntegerOrMax(text: string, file: string): number | null {
  const value = text.trim();
  if (value === "max") return null;
  if (!INTEGER.test(value)) throw new CgroupFormatError(file, text, 'an integer or "max"');
  return Number(value);
}

/**
 * A flat-keyed file: one "key value" pair a line ("memory.events", "cpu.stat", v1's
 * "memory.oom_control"). Keys the kernel adds in later versions come along; callers look up the
 * keys they know and treat an absent key as "this kernel does not count that".
 */
export function parseFlatKeyed(text: string, file: string): Map<string, number> {
  const entries = new Map<string, number>();
  for (const line of text.split("\n")) {
    if (line.trim() === "") continue;
    const [key, value, extra] = line.trim().split(/\s+/);
    if (key === undefined || value === undefined || extra !== undefined || !INTEGER.test(value)) {
      throw new CgroupFormatError(file, line, '"key value" lines');
    }
    entries.set(key, Number(value));
  }
  return entries;
}

/** pids.events (both versions): "max N", the times a fork failed on the limit. */
export function parsePidsEvents(text: string, file = "pids.events"): number | null {
  return parseFlatKeyed(text, file).get("max") ?? null;
}
