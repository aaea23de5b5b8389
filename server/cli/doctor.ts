// `nslab doctor`: what this kernel and host support, and how to fix what they lack.
import fs from "node:fs";

import { type Config, loadConfig } from "../config";
import { type FeatureCheck, checkHostFeatures } from "../kernel/features";
import { PTYS_PER_SANDBOX } from "../sandbox/launcher-args";
import { LAYER_INODES, layerDiskSpace, layerSupport, layersDirOf } from "../sandbox/layer-disk";
import { DEFAULT_UID_BASE, IDS_PER_SANDBOX, MAX_SLOTS, hostUidRangeConflicts } from "../sandbox/uid-slots";

/** One line of the report: a host feature's check, or one of the host's own. A warning is
 *  shown with its fix but does not stop sandboxes. */
type DoctorCheck = FeatureCheck & { warn?: boolean };

export interface DoctorReport {
  /** Whether this host can run sandboxes: every check passes (a warning is a pass). */
  ok: boolean;
  kernel: string;
  cgroupVersion: 1 | 2 | null;
  checks: DoctorCheck[];
}

export function doctorReport(projectRoot: string): DoctorReport {
  const config = loadConfig(process.env, projectRoot);
  const features = checkHostFeatures({ launcher: config.launcherPath, rootfs: config.NSLAB_ROOTFS, cgroupParent: config.NSLAB_CGROUP_PARENT });
  // The sandboxes' host ids against /etc/subuid, /etc/subgid and other services' ranges: the
  // server refuses to start on an overlap, so it is one more check here.
  const uidConflicts = hostUidRangeConflicts(config.NSLAB_UID_BASE);
  const uidLast = config.NSLAB_UID_BASE + MAX_SLOTS * IDS_PER_SANDBOX - 1;
  const hostChecks: DoctorCheck[] = [
    {
      name: "uid ranges",
      ok: uidConflicts.length === 0,
      detail: uidConflicts.length === 0 ? `${config.NSLAB_UID_BASE}-${uidLast} overlaps no other range` : uidConflicts.map((c) => c.split("; ")[0]).join("; "),
      fix: `set NSLAB_UID_BASE to a multiple of ${IDS_PER_SANDBOX} clear of those ranges (default ${DEFAULT_UID_BASE}), or move them`,
    },
    ptyPoolCheck(config.NSLAB_MAX_SESSIONS),
    layersCheck(config),
    chromiumCheck(),
  ];
  return {
    // Every check of this host beyond the kernel's features counts.
    ok: features.ok && hostChecks.every((c) => c.ok),
    kernel: features.kernel,
    cgroupVersion: features.cgroupVersion,
    // A fix is shown where it applies: on a check that passes it would read as advice to act.
    checks: [...features.checks, ...hostChecks].map(({ fix, warn, ...c }: DoctorCheck) => ({
      ...c,
      ...(warn ? { warn } : {}),
      ...((!c.ok || warn) && fix ? { fix } : {}),
    })),
  };
}

export function formatDoctorReport(report: DoctorReport): string[] {
  const width = Math.max(...report.checks.map((c) => c.name.length));
  return [
    `nslab doctor — kernel ${report.kernel}, cgroup ${report.cgroupVersion ? `v${report.cgroupVersion}` : "unusable"}`,
    ...report.checks.flatMap((c) => [
      `  ${!c.ok ? "FAIL" : c.warn ? "warn" : "ok  "}  ${c.name.padEnd(width)}  ${c.detail}`,
      ...(c.fix ? [`        ${" ".repeat(width)}  fix: ${c.fix}`] : []),
    ]),
    report.ok ? "This host can run nslab sandboxes." : "This host cannot run nslab sandboxes yet; lessons are still served.",
  ];
}

/** The report as text, or as one JSON object (`json`); 0 if this host can run sandboxes, else 1. */
export function doctor(projectRoot: string, { json = false } = {}, out: (line: string) => void = console.log): number {
  const report = doctorReport(projectRoot);
  if (json) out(JSON.stringify(report));
  else for (const line of formatDoctorReport(report)) out(line);
  return report.ok ? 0 : 1;
}

/** The distribution's Chromium, which only `npm test`'s browser journeys drive: a warning. */
function chromiumCheck(): DoctorCheck {
  const found = [process.env.CHROMIUM_PATH, "/usr/bin/chromium", "/usr/bin/chromium-browser"].find((p) => p && fs.existsSync(p));
  return {
    name: "chromium",
    ok: true,
    warn: !found,
    detail: found ? `${found} (for npm test's browser journeys)` : "not installed: npm test's browser journeys need it, the lab does not",
    fix: "npm test installs it when run as root; or apt-get install -y chromium (Ubuntu: chromium-browser), or set CHROMIUM_PATH",
  };
}

/** Where the sandboxes' writable layers go (layer-disk.ts): in memory is a fallback, not a
 *  failure, unless NSLAB_LAYER_STORAGE=disk asks for the disk; a disk too small for every
 *  layer full is a warning. */
function layersCheck(config: Config): DoctorCheck {
  const support = config.NSLAB_LAYER_STORAGE === "tmpfs" ? { mode: "tmpfs" as const, reason: "NSLAB_LAYER_STORAGE=tmpfs" } : layerSupport(config.NSLAB_DATA_DIR);
  if (support.mode === "disk") {
    const { neededBytes, freeBytes } = layerDiskSpace(config.NSLAB_DATA_DIR, config.NSLAB_MAX_SESSIONS, config.NSLAB_LAYER_BYTES, LAYER_INODES);
    const gib = (bytes: number) => `${(bytes / 2 ** 30).toFixed(1)} GiB`;
    // A warning, as the server gives at start: sandboxes run, and fill the disk only if
    // every learner fills their layer.
    return {
      name: "writable layers",
      ok: true,
      warn: freeBytes < neededBytes,
      detail: `on disk: an ext4 image per session in ${layersDirOf(config.NSLAB_DATA_DIR)}; ${gib(freeBytes)} free, ${gib(neededBytes)} if all ${config.NSLAB_MAX_SESSIONS} sandboxes fill their layers`,
      fix: `free space on ${config.NSLAB_DATA_DIR}'s disk, put NSLAB_DATA_DIR on a larger one, or lower NSLAB_MAX_SESSIONS or NSLAB_LAYER_BYTES`,
    };
  }
  return {
    name: "writable layers",
    ok: config.NSLAB_LAYER_STORAGE !== "disk",
    detail: `in memory (tmpfs, sized below each sandbox's memory limit): ${support.reason}`,
    fix: support.reason,
  };
}

/** Every devpts instance but the host's own (each sandbox's /dev/pts among them) draws from one
 *  pool of kernel.pty.max minus kernel.pty.reserve ptys: a full pool leaves every sandbox
 *  without a terminal of its own (script, tmux, a nested shell's pty), so it must hold
 *  PTYS_PER_SANDBOX (the launcher's devpts max=) for each session the server may run. */
export function ptyPoolCheck(
  maxSessions: number,
  read: (key: "max" | "reserve" | "nr") => string = (key) => fs.readFileSync(`/proc/sys/kernel/pty/${key}`, "utf8"),
): DoctorCheck {
  const name = "pty pool";
  let max: number, reserve: number, nr: number;
  try {
    max = Number(read("max").trim());
    reserve = Number(read("reserve").trim());
    nr = Number(read("nr").trim());
  } catch (err) {
    return { name, ok: false, detail: `cannot read /proc/sys/kernel/pty: ${(err as Error).message}`, fix: "mount /proc" };
  }
  const pool = max - reserve;
  const needed = maxSessions * PTYS_PER_SANDBOX;
  return {
    name,
    ok: Number.isFinite(pool) && pool >= needed,
    detail: `kernel.pty.max ${max} - kernel.pty.reserve ${reserve} = ${pool} for containers (${nr} in use on the host), ` +
      `${needed} needed: ${PTYS_PER_SANDBOX} for each of NSLAB_MAX_SESSIONS ${maxSessions}`,
    fix: `sysctl -w kernel.pty.max=${reserve + needed + 1024} (and in /etc/sysctl.d to keep it), or lower NSLAB_MAX_SESSIONS`,
  };
}
