// Namespace identity as the kernel shows it: each /proc/<pid>/ns/<type> is a symlink whose
// text names the namespace kind and its inode, "net:[4026531840]" (namespaces(7)). Two
// processes are in the same namespace exactly when the inodes are equal; that comparison, the
// learner's processes against the server's own, is what the page draws.
import path from "node:path";

import { NAMESPACE_TYPES, type NamespaceInodes, type NamespaceType } from "../../common/lab-state";
import { readKernelLink } from "./kernel-files";

export { NAMESPACE_TYPES };
export type { NamespaceInodes, NamespaceType };

/** What a link's text names: pid_for_children points at a "pid" namespace, and so on. */
const NAMESPACE_KINDS = ["cgroup", "ipc", "mnt", "net", "pid", "time", "user", "uts"] as const;
export type NamespaceKind = (typeof NAMESPACE_KINDS)[number];

export interface NamespaceLink {
  type: NamespaceKind;
  inode: number;
}

function isNamespaceKind(name: string): name is NamespaceKind {
  return (NAMESPACE_KINDS as readonly string[]).includes(name);
}

/** "net:[4026531840]" -> { type: "net", inode: 4026531840 }; null for any other text. */
export function parseNamespaceLink(text: string): NamespaceLink | null {
  const match = /^([a-z_]+):\[(\d+)\]$/.exec(text.trim());
  if (!match || match[1] === undefined || match[2] === undefined || !isNamespaceKind(match[1])) return null;
  return { type: match[1], inode: Number(match[2]) };
}

export interface NamespaceReadOptions {
  /** Where procfs is; tests point this at a fixture tree. */
  procRoot?: string;
  /** Which links to read; others come back null. Default: every type this kernel has. */
  types?: readonly NamespaceType[];
}

function emptyInodes(): NamespaceInodes {
  return { cgroup: null, ipc: null, mnt: null, net: null, pid: null, pid_for_children: null, time: null, time_for_children: null, user: null, uts: null };
}

/**
 * The namespace inodes of one process, or null when the process is gone (it exited between
 * being listed and being read: its links then fail with ENOENT or ESRCH).
 *
 * One link may fail while the process lives: pid_for_children of a process that unshared a pid
 * namespace and has not forked its first child yet (the namespace has no init; `unshare --pid`
 * without --fork). That type is null then, not a reason to drop the process.
 */
export function readNamespaceInodes(pid: number | "self", options: NamespaceReadOptions = {}): NamespaceInodes | null {
  const procRoot = options.procRoot ?? "/proc";
  const types = options.types ?? exposedNamespaceTypes(procRoot);
  const inodes = emptyInodes();
  for (const type of types) {
    const link = path.join(procRoot, String(pid), "ns", type);
    const text = readKernelLink(link);
    if (text === null) {
      if (type === "pid_for_children") continue;
      return null;
    }
    const parsed = parseNamespaceLink(text);
    if (parsed === null) throw new Error(`${link}: unexpected namespace link ${JSON.stringify(text)}`);
    inodes[type] = parsed.inode;
  }
  return inodes;
}

const exposedByRoot = new Map<string, NamespaceType[]>();

/**
 * The namespace types this kernel has (time namespaces came in Linux 5.6, cgroup in 4.6), from
 * the server's own /proc/self/ns; read once per procfs root. A type the kernel lacks is null for
 * every process, and never mistaken for a process that vanished.
 */
export function exposedNamespaceTypes(procRoot = "/proc"): NamespaceType[] {
  let types = exposedByRoot.get(procRoot);
  if (types === undefined) {
    types = NAMESPACE_TYPES.filter((t) => readKernelLink(path.join(procRoot, "self", "ns", t)) !== null);
    exposedByRoot.set(procRoot, types);
  }
  return types;
}

/** The server's own namespaces: the host side of every comparison. */
export function readHostNamespaces(procRoot = "/proc"): NamespaceInodes {
  const inodes = readNamespaceInodes("self", { procRoot });
  if (inodes === null) throw new Error(`${procRoot}/self/ns cannot be read`);
  return inodes;
}
