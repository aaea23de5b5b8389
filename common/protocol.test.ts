import { describe, expect, it } from "vitest";

import { MAX_FRAME_BYTES, PROTOCOL_VERSION, parseClientMessage, parseServerMessage } from "./protocol";

describe("client messages", () => {
  it("accepts a session.start with a terminal size", () => {
    const r = parseClientMessage(JSON.stringify({ type: "session.start", version: PROTOCOL_VERSION, lesson: "containers-vs-vms", size: { cols: 80, rows: 24 } }));
    expect(r).toEqual({ ok: true, message: { type: "session.start", version: 1, lesson: "containers-vs-vms", size: { cols: 80, rows: 24 } } });
  });

  it("accepts a resize within the terminal limits", () => {
    const r = parseClientMessage('{"type":"pty.resize","size":{"cols":500,"rows":200}}');
    expect(r.ok).toBe(true);
  });

  it.each([
    [{ cols: 0, rows: 0 }],
    [{ cols: 100000, rows: 24 }],
    [{ cols: 501, rows: 24 }],
    [{ cols: 80, rows: 201 }],
    [{ cols: 80, rows: -1 }],
    [{ cols: 80.5, rows: 24 }],
    [{ cols: "80", rows: 24 }],
  ])("rejects the resize %j with bad_resize", (size) => {
    const r = parseClientMessage(JSON.stringify({ type: "pty.resize", size }));
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.code).toBe("bad_resize");
      expect(r.message).toMatch(/^Invalid pty\.resize: size\.(cols|rows): /);
    }
  });

  it("names an unknown type", () => {
    const r = parseClientMessage('{"type":"shell.exec","cmd":"rm -rf /"}');
    expect(r).toEqual({ ok: false, code: "unknown_type", message: 'Unknown message type "shell.exec".' });
  });

  it("rejects a message with no type as unknown", () => {
    const r = parseClientMessage('{"cols":80}');
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.code).toBe("unknown_type");
  });

  it("rejects text that is not JSON", () => {
    expect(parseClientMessage("{not json")).toEqual({ ok: false, code: "bad_json", message: "The message is not valid JSON." });
  });

  it("rejects a session.start of another protocol version", () => {
    const r = parseClientMessage(JSON.stringify({ type: "session.start", version: 99, size: { cols: 80, rows: 24 } }));
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.code).toBe("bad_message");
  });

  it("rejects a lesson slug that is not a slug", () => {
    const r = parseClientMessage(JSON.stringify({ type: "session.start", version: 1, lesson: "../etc", size: { cols: 80, rows: 24 } }));
    expect(r.ok).toBe(false);
  });

  it("rejects negative and absurd acknowledgements", () => {
    expect(parseClientMessage('{"type":"pty.ack","bytes":-5}').ok).toBe(false);
    expect(parseClientMessage('{"type":"pty.ack","bytes":1e12}').ok).toBe(false);
    expect(parseClientMessage('{"type":"pty.ack","bytes":4096}').ok).toBe(true);
  });

  it("keeps frames small enough to bound memory", () => {
    expect(MAX_FRAME_BYTES).toBe(65536);
  });
});

describe("state and limits messages", () => {
  it("accepts state.watch on and off", () => {
    expect(parseClientMessage('{"type":"state.watch","watch":true}').ok).toBe(true);
    expect(parseClientMessage('{"type":"state.watch","watch":"yes"}').ok).toBe(false);
  });

  it("accepts a partial limits.update for a session id, and nothing else", () => {
    const update = (limits: unknown, sessionId = "0123456789abcdef") =>
      parseClientMessage(JSON.stringify({ type: "limits.update", requestId: "req-1", sessionId, limits }));
    expect(update({ memoryBytes: 67108864 })).toEqual({
      ok: true,
      message: { type: "limits.update", requestId: "req-1", sessionId: "0123456789abcdef", limits: { memoryBytes: 67108864 } },
    });
    // A rejected request keeps its id, so the error can answer it.
    expect(update({ memoryBytes: "64m" })).toMatchObject({ ok: false, code: "bad_message", requestId: "req-1" });
    expect(parseClientMessage(JSON.stringify({ type: "limits.update", sessionId: "0123456789abcdef", limits: { cpus: 1 } })).ok).toBe(false);
    expect(update({ memorySwapBytes: -1, cpus: 0.25, pids: -1 }).ok).toBe(true);
    expect(update({}).ok).toBe(false);
    expect(update({ memoryBytes: "64m" }).ok).toBe(false);
    expect(update({ memoryBytes: -1 }).ok).toBe(false);
    expect(update({ pids: -2 }).ok).toBe(false);
    expect(update({ cpus: 0 }).ok).toBe(false);
    expect(update({ memoryBytes: 67108864 }, "../../etc").ok).toBe(false);
  });
});

describe("server messages", () => {
  it("parses session.ready with startup steps", () => {
    const msg = {
      type: "session.ready",
      version: 1,
      sessionId: "abcdef0123456789",
      hostname: "lab-abcdef",
      hostPid: 4242,
      cgroupVersion: 1,
      limits: { memoryBytes: 268435456, memorySwapBytes: 268435456, cpus: 0.5, pids: 100 },
      cgroupFiles: [{ flag: "--memory", file: "memory/memory.limit_in_bytes", value: "268435456" }],
      host: { cpus: 2, memoryBytes: 25769803776, kernelRelease: "6.18.44" },
      startup: [{ step: "clone", atMs: 1.5 }],
      role: "owner",
      resumeToken: "abcdefghijklmnopqrstuvwxyz0123456789_-ABCDE",
      resumed: false,
      size: { cols: 80, rows: 24 },
      replayBytes: 120,
      reconnectGraceS: 120,
    };
    expect(parseServerMessage(JSON.stringify(msg))).toEqual({ ok: true, message: msg });
    // A step the launcher cannot report is a broken frame, not a new kind of bar.
    expect(parseServerMessage(JSON.stringify({ ...msg, startup: [{ step: "seccomp", atMs: 1 }] })).ok).toBe(false);
  });

  it("parses the resume and watch requests, and refuses malformed tokens and session ids", () => {
    const token = "abcdefghijklmnopqrstuvwxyz0123456789_-ABCDE";
    const resume = { type: "session.resume", version: 1, sessionId: "abcdef0123456789", token, size: { cols: 80, rows: 24 } };
    expect(parseClientMessage(JSON.stringify(resume))).toEqual({ ok: true, message: resume });
    const watch = { type: "session.watch", version: 1, sessionId: "abcdef0123456789", token };
    expect(parseClientMessage(JSON.stringify(watch))).toEqual({ ok: true, message: watch });
    for (const bad of [{ ...resume, token: "short" }, { ...resume, token: `${token}!` }, { ...watch, sessionId: "../../etc" }, { ...resume, size: undefined }]) {
      expect(parseClientMessage(JSON.stringify(bad))).toMatchObject({ ok: false, code: "bad_message" });
    }
  });

  it("parses a role change and a terminal size for watchers", () => {
    const role = { type: "session.role", role: "watcher", reason: "Another tab took over." };
    expect(parseServerMessage(JSON.stringify(role))).toEqual({ ok: true, message: role });
    expect(parseServerMessage(JSON.stringify({ type: "pty.size", size: { cols: 90, rows: 20 } })).ok).toBe(true);
    expect(parseServerMessage(JSON.stringify({ ...role, role: "admin" })).ok).toBe(false);
  });

  it("rejects an error frame with an unknown code", () => {
    expect(parseServerMessage('{"type":"error","code":"oops","message":"x"}').ok).toBe(false);
  });
});
