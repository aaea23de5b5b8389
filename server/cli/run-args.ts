// `nslab run` flags, with the meaning and the checks `docker run` gives them. Everything is
// validated here, before anything is created; a bad value gets one line naming the flag.
import { MIN_MEMORY_BYTES, parseSize } from "../../common/limits";
import { DEFAULT_LIMITS, type Limits } from "../sandbox/limits";

export interface RunOptions {
  limits: Limits;
  hostname?: string;
  timeline?: string;
  command: string[];
}

export type RunArgsResult = { ok: true; options: RunOptions } | { ok: false; error: string } | { ok: "help" } | { ok: "version" };

export const RUN_USAGE = `usage: nslab run [FLAGS] -- CMD [ARG...]

Run one command in a fresh sandbox, exactly as a lab session does.

  -m, --memory SIZE        memory limit, e.g. 256m, 1g (default 256m)
      --memory-swap SIZE   memory plus swap: equal to --memory means no swap, -1 unlimited;
                           unset with --memory means as much swap as memory (docker's rule)
      --cpus N             CPUs, e.g. 0.5 (default 0.5)
      --pids-limit N       process and thread limit, -1 for none (default 100)
      --hostname NAME      the sandbox's hostname (default lab-<id>)
      --timeline FILE      write the launcher's steps with timestamps as JSON lines
  -h, --help               this text
  -V, --version            print nslab's version

Exit codes: CMD's own status; 128+N if signal N killed it; 125 nslab itself failed, or a flag
is wrong (as docker run, so that no status of CMD's is taken for it); 126/127 as a shell uses them.
`;

const MIN_MEMORY = MIN_MEMORY_BYTES;

export { parseSize };

export function parseRunArgs(argv: string[], host: { cpus: number; memoryBytes: number }): RunArgsResult {
  let memory: number | undefined;
  let memorySwap: number | undefined;
  let cpus: number | undefined;
  let pids: number | undefined;
  let hostname: string | undefined;
  let timeline: string | undefined;
  let i = 0;
  const value = (flag: string): string | { error: string } => {
    const v = argv[i + 1];
    if (v === undefined) return { error: `nslab run: ${flag} needs a value` };
    i++;
    return v;
  };
  for (; i < argv.length; i++) {
    let arg = argv[i] ?? "";
    if (arg === "--") {
      i++;
      break;
    }
    if (arg === "-h" || arg === "--help") return { ok: "help" };
    if (arg === "-V" || arg === "--version") return { ok: "version" };
    if (!arg.startsWith("-")) break; // the command, docker-style, without "--"
    let inline: string | undefined;
    const eq = arg.indexOf("=");
    if (arg.startsWith("--") && eq > 0) {
      inline = arg.slice(eq + 1);
      arg = arg.slice(0, eq);
    }
    const get = (flag: string) => (inline !== undefined ? inline : value(flag));
    switch (arg) {
      case "-m":
      case "--memory": {
        const v = get("--memory");
        if (typeof v !== "string") return { ok: false, error: v.error };
        const bytes = parseSize(v);
        if (bytes === null) return { ok: false, error: `nslab run: --memory: '${v}' is not a size (examples: 256m, 1g, 536870912)` };
        if (bytes < MIN_MEMORY) return { ok: false, error: `nslab run: --memory: minimum memory limit allowed is 6MB` };
        if (bytes > host.memoryBytes) return { ok: false, error: `nslab run: --memory: ${v} is more than this host's ${Math.floor(host.memoryBytes / 1048576)}m of memory` };
        memory = bytes;
        break;
      }
      case "--memory-swap": {
        const v = get("--memory-swap");
        if (typeof v !== "string") return { ok: false, error: v.error };
        if (v.trim() === "-1") {
          memorySwap = -1;
          break;
        }
        const bytes = parseSize(v);
        if (bytes === null) return { ok: false, error: `nslab run: --memory-swap: '${v}' is not a size (examples: 512m, or -1 for unlimited swap)` };
        memorySwap = bytes;
        break;
      }
      case "--cpus": {
        const v = get("--cpus");
        if (typeof v !== "string") return { ok: false, error: v.error };
        const n = Number(v);
        if (!/^\d*\.?\d+$/.test(v.trim()) || !Number.isFinite(n)) return { ok: false, error: `nslab run: --cpus: '${v}' is not a number (example: 0.5)` };
        if (n < 0.01 || n > host.cpus) {
          return { ok: false, error: `nslab run: --cpus: range of CPUs is from 0.01 to ${host.cpus.toFixed(2)}, as there are only ${host.cpus} CPUs available` };
        }
        cpus = n;
        break;
      }
      case "--pids-limit": {
        const v = get("--pids-limit");
        if (typeof v !== "string") return { ok: false, error: v.error };
        if (!/^-?\d+$/.test(v.trim())) return { ok: false, error: `nslab run: --pids-limit: '${v}' is not a whole number (-1 for no limit)` };
        const n = Number(v);
        if (n > 4194304) return { ok: false, error: `nslab run: --pids-limit: ${v} is above the kernel's maximum of 4194304` };
        pids = n <= 0 ? -1 : n;
        break;
      }
      case "--hostname": {
        const v = get("--hostname");
        if (typeof v !== "string") return { ok: false, error: v.error };
        if (!/^[a-z0-9][a-z0-9-]{0,62}$/.test(v)) return { ok: false, error: `nslab run: --hostname: '${v}' must be 1-63 of a-z, 0-9 and '-', not starting with '-'` };
        hostname = v;
        break;
      }
      case "--timeline": {
        const v = get("--timeline");
        if (typeof v !== "string") return { ok: false, error: v.error };
        if (!v) return { ok: false, error: "nslab run: --timeline needs a file name" };
        timeline = v;
        break;
      }
      default:
        return { ok: false, error: `nslab run: unknown flag '${arg}' (see nslab run --help)` };
    }
  }
  const command = argv.slice(i);
  if (command.length === 0) return { ok: false, error: "nslab run: no command given (usage: nslab run [FLAGS] -- CMD [ARG...])" };
  if (memorySwap !== undefined && memorySwap !== -1 && memorySwap !== 0) {
    if (memory === undefined) return { ok: false, error: "nslab run: --memory-swap: set --memory too; the swap limit is memory plus swap" };
    if (memorySwap < memory) return { ok: false, error: "nslab run: --memory-swap: it is memory plus swap, so it cannot be below --memory" };
  }
  let limits: Limits;
  if (memory === undefined) {
    limits = { ...DEFAULT_LIMITS, memorySwapBytes: memorySwap === -1 ? -1 : DEFAULT_LIMITS.memorySwapBytes };
  } else {
    // Docker's rule, and the pitfall the first lesson teaches: --memory alone allows as much
    // swap again (memory-swap = 2 x memory).
    const swapTotal = memorySwap === undefined || memorySwap === 0 ? memory * 2 : memorySwap;
    limits = { ...DEFAULT_LIMITS, memoryBytes: memory, memorySwapBytes: swapTotal };
  }
  if (cpus !== undefined) limits.cpus = cpus;
  if (pids !== undefined) limits.pids = pids;
  return { ok: true, options: { limits, command, ...(hostname ? { hostname } : {}), ...(timeline ? { timeline } : {}) } };
}
