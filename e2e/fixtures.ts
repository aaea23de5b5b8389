// What the stand-in lab servers of the browser journeys answer session.start with: one
// session.ready, on either cgroup version, with a spec's own differences laid over it.
import { PROTOCOL_VERSION, type ServerMessage } from "../common/protocol";

export type SessionReady = Extract<ServerMessage, { type: "session.ready" }>;

const MiB = 1024 * 1024;

/** Where the lesson's default limits live, as the server reports them on each version. */
const CGROUP_FILES: Record<1 | 2, SessionReady["cgroupFiles"]> = {
  1: [
    { flag: "--memory", file: "memory/memory.limit_in_bytes", value: "268435456" },
    { flag: "--memory-swap", file: "memory/memory.memsw.limit_in_bytes", value: "268435456" },
    { flag: "--cpus", file: "cpu/cpu.cfs_quota_us", value: "50000" },
    { flag: "--pids-limit", file: "pids/pids.max", value: "100" },
  ],
  2: [
    { flag: "--memory", file: "memory.max", value: "268435456" },
    { flag: "--memory-swap", file: "memory.swap.max", value: "0" },
    { flag: "--cpus", file: "cpu.max", value: "50000 100000" },
    { flag: "--pids-limit", file: "pids.max", value: "100" },
  ],
};

export function sessionReady(cgroupVersion: 1 | 2, overrides: Partial<SessionReady> = {}): SessionReady {
  return {
    type: "session.ready",
    version: PROTOCOL_VERSION,
    sessionId: "00c0ffee00c0ffee",
    hostname: "lab-00c0ff",
    hostPid: 31337,
    cgroupVersion,
    limits: { memoryBytes: 256 * MiB, memorySwapBytes: 256 * MiB, cpus: 0.5, pids: 100 },
    cgroupFiles: CGROUP_FILES[cgroupVersion],
    host: { cpus: 2, memoryBytes: 4096 * MiB, kernelRelease: "6.18.0" },
    startup: [{ step: "exec", atMs: 4.2 }],
    role: "owner",
    resumeToken: "T".repeat(43),
    resumed: false,
    size: { cols: 80, rows: 24 },
    replayBytes: 0,
    reconnectGraceS: 120,
    ...overrides,
  };
}
