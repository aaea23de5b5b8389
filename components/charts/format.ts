// Numbers as the charts and their tables print them: binary units for memory (what cgroup
// files and docker's "256m" mean), CPUs as a fraction of one core (docker --cpus).

const UNITS = ["B", "KiB", "MiB", "GiB", "TiB"] as const;

/** 268435456 -> "256 MiB"; 3355443 -> "3.2 MiB"; 0 -> "0 B". */
export function formatBytes(bytes: number): string {
  let value = Math.abs(bytes);
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit += 1;
  }
  const digits = unit === 0 || Number.isInteger(value) || value >= 100 ? 0 : 1;
  return `${bytes < 0 ? "-" : ""}${value.toFixed(digits)} ${UNITS[unit]}`;
}

/** 0.5 -> "0.50 CPU"; 2 -> "2.00 CPUs". */
export function formatCpus(cpus: number): string {
  return `${cpus.toFixed(2)} CPU${cpus > 1 ? "s" : ""}`;
}

/** Share of a limit, for the tables: "12%"; nothing without a limit. */
export function formatShare(value: number | null, limit: number | null): string {
  if (value === null || limit === null || limit <= 0) return "";
  return `${Math.round((value / limit) * 100)}%`;
}
