import { describe, expect, it } from "vitest";

import { CloseCode, closeReason } from "../../common/protocol";
import {
  ABNORMAL_CLOSURE,
  RECONNECTABLE_CLOSE_CODES,
  type SessionReady,
  UNREACHABLE_REASON,
  closedState,
  reconnectDelayMs,
  statusText,
} from "./lab-state";

describe("the terminal panel's state after the socket closes", () => {
  it("shows the protocol's sentence for a full lab, and offers to reconnect", () => {
    const state = closedState(CloseCode.LabFull, null, null);
    expect(state.reason).toBe(closeReason[CloseCode.LabFull]);
    expect(state.offer).toBe("reconnect");
    expect(statusText(state)).toBe(closeReason[CloseCode.LabFull]);
  });

  it("adds the error frame's message to the close reason", () => {
    const state = closedState(
      CloseCode.SandboxFailed,
      { type: "error", code: "sandbox_failed", message: "mount overlay on /run/nslab/x: EINVAL" },
      null,
    );
    expect(statusText(state)).toBe(`${closeReason[CloseCode.SandboxFailed]} mount overlay on /run/nslab/x: EINVAL`);
  });

  it("does not repeat an error message that says the same as the close reason", () => {
    const reason = closeReason[CloseCode.LabFull];
    const state = closedState(CloseCode.LabFull, { type: "error", code: "lab_full", message: reason }, null);
    expect(state.detail).toBeNull();
  });

  it("offers a new shell after the shell exited, and says how it exited", () => {
    const exited = closedState(CloseCode.SessionEnded, null, { type: "session.exit", exitCode: 0, signal: null });
    expect(exited.offer).toBe("restart");
    expect(statusText(exited)).toBe(`${closeReason[CloseCode.SessionEnded]} The shell exited with status 0.`);

    const killed = closedState(CloseCode.SessionEnded, null, { type: "session.exit", exitCode: null, signal: 9 });
    expect(killed.detail).toBe("The shell was killed by signal 9 (SIGKILL).");
  });

  it("says plainly that the lab is unreachable when the connection drops or never opens", () => {
    const state = closedState(ABNORMAL_CLOSURE, null, null);
    expect(state.reason).toBe(UNREACHABLE_REASON);
    expect(statusText(state)).toMatch(/unreachable/);
    expect(state.offer).toBe("reconnect");
  });

  it("names a close code the protocol does not know", () => {
    expect(closedState(1011, null, null).reason).toBe("The connection to the lab closed unexpectedly (code 1011).");
  });
});

describe("status text", () => {
  it("names the state for the connecting and ready phases", () => {
    expect(statusText({ phase: "connecting" })).toContain("connecting");
    const session: SessionReady = {
      type: "session.ready",
      version: 1,
      sessionId: "0123456789abcdef",
      hostname: "lab-1a2b3c",
      hostPid: 4242,
      cgroupVersion: 1,
      limits: { memoryBytes: 268435456, memorySwapBytes: 268435456, cpus: 0.5, pids: 100 },
      cgroupFiles: [
        { flag: "--memory", file: "memory/memory.limit_in_bytes", value: "268435456" },
        { flag: "--memory-swap", file: "memory/memory.memsw.limit_in_bytes", value: "268435456" },
        { flag: "--cpus", file: "cpu/cpu.cfs_quota_us", value: "50000" },
        { flag: "--pids-limit", file: "pids/pids.max", value: "100" },
      ],
      host: { cpus: 2, memoryBytes: 4 * 1024 ** 3, kernelRelease: "6.18.0" },
      startup: [],
      role: "owner",
      resumed: false,
      size: { cols: 80, rows: 24 },
      replayBytes: 0,
      reconnectGraceS: 120,
    };
    expect(statusText({ phase: "ready", session, role: "owner", notice: null })).toBe("ready");
    expect(statusText({ phase: "ready", session, role: "watcher", notice: "Another tab took over." })).toBe("watching. Another tab took over.");
    expect(statusText({ phase: "reconnecting", session, attempt: 1 })).toMatch(/^reconnecting… Your sandbox is still running/);
    expect(statusText({ phase: "reconnecting", session, attempt: 3 })).toContain("(attempt 3)");
  });
});

describe("reconnecting", () => {
  it("retries after a dropped connection, a proxy's going-away or a slow watcher, not after the sandbox ended", () => {
    for (const code of [1001, ABNORMAL_CLOSURE, 1011, CloseCode.FellBehind, CloseCode.StoppedReading]) expect(RECONNECTABLE_CLOSE_CODES.has(code), String(code)).toBe(true);
    for (const code of [CloseCode.SessionEnded, CloseCode.SessionGone, CloseCode.LabFull, CloseCode.ServerShutdown, CloseCode.TooManyErrors]) {
      expect(RECONNECTABLE_CLOSE_CODES.has(code), String(code)).toBe(false);
    }
  });

  it("backs off from half a second to ten", () => {
    expect([1, 2, 3, 4, 5, 6, 7, 20].map(reconnectDelayMs)).toEqual([500, 1000, 2000, 4000, 8000, 10_000, 10_000, 10_000]);
  });

  it("offers a new sandbox once the old one is gone", () => {
    expect(closedState(CloseCode.SessionGone, null, null).offer).toBe("restart");
  });
});
