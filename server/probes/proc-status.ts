// /proc/<pid>/status, the fields the lab shows about a process (proc(5); the pid namespace
// lines are described in Documentation/filesystems/proc.rst). Every pid and id in the file is
// as the reader sees it: read from the host, they are host pids and host uids.

export interface IdSet {
  real: number;
  effective: number;
  saved: number;
  filesystem: number;
}

export interface ProcStatus {
  /** The command name (comm: at most 15 bytes, what `ps -o comm` shows). */
  command: string;
  /** One letter: R running, S sleeping, D disk sleep, T stopped, Z zombie, … */
  state: string;
  /** The words after the letter, e.g. "sleeping". */
  stateName: string;
  /** The pid as the reader sees it (a host pid, read from the host). */
  pid: number;
  ppid: number;
  /**
   * The pid in every pid namespace the process is in, outermost (the reader's) first: a
   * learner's shell may read [48213, 1] — 48213 on the host, pid 1 inside its sandbox.
   * Kernels before 4.1 have no NSpid line; the chain is then just [pid].
   */
  nsPids: number[];
  /** NStgid: the same chain for the thread-group id. */
  nsTgids: number[];
  uid: IdSet;
  gid: IdSet;
}

export class ProcStatusFormatError extends Error {
  constructor(detail: string) {
    super(`/proc/<pid>/status: ${detail}`);
    this.name = "ProcStatusFormatError";
  }
}

/**
 * comm is printed with \n and \\ escaped (and, through ESCAPE_SPACE | ESCAPE_SPECIAL, the other
 * C escapes), since a process can name itself anything (prctl PR_SET_NAME); undo that so the
 * page shows the name the process gave itself.
 */
const COMM_ESCAPES: Record<string, string> = { n: "\n", t: "\t", r: "\r", f: "\f", v: "\v", a: "\x07", e: "\x1b", "\\": "\\", '"': '"' };

function unescapeCommand(escaped: string): string {
  return escaped.replace(/\\(.)/g, (whole, c: string) => COMM_ESCAPES[c] ?? whole);
}

function integers(value: string, field: string): number[] {
  const parts = value.trim().split(/\s+/).filter(Boolean);
  if (parts.length === 0 || !parts.every((p) => /^\d+$/.test(p))) throw new ProcStatusFormatError(`${field}: expected numbers, read ${JSON.stringify(value)}`);
  return parts.map(Number);
}

function idSet(value: string, field: string): IdSet {
  const [real, effective, saved, filesystem] = integers(value, field);
  if (real === undefined || effective === undefined || saved === undefined || filesystem === undefined) {
    throw new ProcStatusFormatError(`${field}: expected four ids, read ${JSON.stringify(value)}`);
  }
  return { real, effective, saved, filesystem };
}

/** The lines read; the other fifty or so (memory, signals, capabilities) are skipped. */
const FIELDS = new Set(["Name", "State", "Tgid", "Pid", "PPid", "Uid", "Gid", "NStgid", "NSpid"]);

export function parseProcStatus(text: string): ProcStatus {
  const fields = new Map<string, string>();
  for (const line of text.split("\n")) {
    const colon = line.indexOf(":");
    if (colon <= 0) continue;
    const field = line.slice(0, colon);
    // The value follows a tab; Name keeps everything after it, spaces included.
    if (FIELDS.has(field)) fields.set(field, line.slice(colon + 1).replace(/^\t/, ""));
  }
  const need = (field: string): string => {
    const value = fields.get(field);
    if (value === undefined) throw new ProcStatusFormatError(`no ${field} line`);
    return value;
  };
  const [pid] = integers(need("Pid"), "Pid");
  const [ppid] = integers(need("PPid"), "PPid");
  const [tgid] = integers(fields.get("Tgid") ?? need("Pid"), "Tgid");
  const stateMatch = /^(\S)\s*(?:\((.*)\))?/.exec(need("State"));
  if (pid === undefined || ppid === undefined || tgid === undefined || !stateMatch) throw new ProcStatusFormatError("bad Pid, PPid or State");
  const nsPid = fields.get("NSpid");
  const nsTgid = fields.get("NStgid");
  return {
    command: unescapeCommand(need("Name")),
    state: stateMatch[1] ?? "?",
    stateName: stateMatch[2] ?? "",
    pid,
    ppid,
    nsPids: nsPid === undefined ? [pid] : integers(nsPid, "NSpid"),
    nsTgids: nsTgid === undefined ? [tgid] : integers(nsTgid, "NStgid"),
    uid: idSet(need("Uid"), "Uid"),
    gid: idSet(need("Gid"), "Gid"),
  };
}
