// The foundation slice end to end, minus the browser: a real server, real sockets, real
// sandboxes. Proves the sandbox is what the lesson says it is, that closing the socket leaves
// nothing behind, and that bad input gets a clear answer while everything else carries on.
import { createHash } from "node:crypto";
import fs from "node:fs";
import http from "node:http";
import net from "node:net";

import { afterAll, beforeAll, describe, expect, it } from "vitest";

import type { NamespaceType } from "../../common/lab-state";
import { CloseCode, MAX_FRAME_BYTES } from "../../common/protocol";
import { checkHostFeatures } from "../kernel/features";
import { selfOwner } from "../kernel/proc";
import { readNamespaceInodes } from "../probes/namespaces";
import { createLabServer } from "../http/lab-server";
import { LabClient } from "../testing/lab-client";
import { LAUNCHER, ROOTFS, sandboxUnavailable } from "../testing/kernel";
import { type TestLab, startTestLab } from "../testing/test-lab";
import { NO_TRACES, leftNothing, sessionTraces, uidSlotsNaming, waitUntil } from "../testing/traces";

const unavailable = sandboxUnavailable();

/** The inode of one of a process's namespaces (the probes' own reader). */
function namespaceInode(pid: number | "self", type: NamespaceType): number | null {
  return readNamespaceInodes(pid)?.[type] ?? null;
}

/** Wait for the shell's first prompt, so what the test types is not echoed twice (once by
 *  the terminal before the shell reads it, once by the shell's line editor). */
async function prompted(client: LabClient): Promise<void> {
  await client.waitFor(() => /# $/.test(client.output), "the shell's prompt");
}

// With no grace period a session ends as soon as its page goes: these tests are about the
// connection; reconnecting is server/sessions/sessions.test.ts's.
describe.skipIf(unavailable !== null)(`lab connections over /ws${unavailable ? ` (skipped: ${unavailable})` : ""}`, () => {
  let server: TestLab;

  beforeAll(async () => {
    server = await startTestLab({ name: "ws", capacity: 3, graceMs: 0 });
  });

  afterAll(async () => {
    await server?.close();
  });

  it("gives the learner a shell that is pid 1 in its own namespaces, limited by its own cgroup", async () => {
    const client = new LabClient(server.url);
    const ready = await client.start();
    expect(ready.hostname).toMatch(/^lab-[0-9a-f]{6}$/);
    expect(ready.hostPid).toBeGreaterThan(1);
    expect(ready.limits).toEqual({ memoryBytes: 268435456, memorySwapBytes: 268435456, cpus: 0.5, pids: 100 });
    expect(ready.startup.map((s) => s.step)).toEqual(expect.arrayContaining(["clone", "uid-map", "overlay", "cgroup", "pivot-root", "exec"]));

    expect(await client.run("echo $$")).toBe("1");
    expect(await client.run("hostname")).toBe(ready.hostname);

    const sandboxNet = Number((await client.run("readlink /proc/self/ns/net")).replace(/^net:\[(\d+)\]$/, "$1"));
    expect(sandboxNet).toBeGreaterThan(0);
    expect(sandboxNet).not.toBe(namespaceInode("self", "net"));
    // The host sees the same inode for the sandbox's pid 1 as the learner sees inside.
    expect(namespaceInode(ready.hostPid, "net")).toBe(sandboxNet);
    for (const type of ["pid", "mnt", "uts", "ipc", "user", "cgroup"] as const) {
      expect(namespaceInode(ready.hostPid, type), type).toBeGreaterThan(0);
      expect(namespaceInode(ready.hostPid, type), type).not.toBe(namespaceInode("self", type));
    }

    const limitFile = ready.cgroupVersion === 1 ? "/sys/fs/cgroup/memory/memory.limit_in_bytes" : "/sys/fs/cgroup/memory.max";
    expect(await client.run(`cat ${limitFile}`)).toBe("268435456");
    expect(await client.run("id -u; cat /proc/self/uid_map")).toMatch(/^0\n\s+0\s+\d+\s+65536$/);

    client.close();
    await client.closed();
  });

  it("writes to /etc land in the session's own upper layer, and go with the session", async () => {
    const client = new LabClient(server.url);
    const ready = await client.start();
    expect(await client.run("echo written-by-learner >> /etc/motd && tail -n 1 /etc/motd")).toBe("written-by-learner");
    const sandbox = server.registry.find(ready.sessionId)?.sandbox;
    expect(sandbox).toBeDefined();
    const upperMotd = `${sandbox?.upperDir}/etc/motd`;
    expect(fs.readFileSync(upperMotd, "utf8")).toMatch(/written-by-learner\n$/);
    // The image itself is untouched.
    expect(fs.readFileSync(`${ROOTFS}/etc/motd`, "utf8")).not.toContain("written-by-learner");

    client.close();
    await client.closed();
    await waitUntil(() => !fs.existsSync(upperMotd), "upper layer gone");
    // A new session starts from the clean image.
    const next = new LabClient(server.url);
    await next.start();
    expect(await next.run("grep -c written-by-learner /etc/motd || true")).toBe("0");
    next.close();
    await next.closed();
  });

  it("leaves no cgroup, mount, process or state behind once the socket closes (no grace period)", async () => {
    const client = new LabClient(server.url);
    const ready = await client.start();
    // Background work the learner leaves running must not survive the session either.
    await client.run("sleep 1000 & sleep 1001 & (sleep 1002 &) ; true");
    const during = sessionTraces(server.driver, server.runDir, ready.sessionId);
    expect(during.cgroupDirs.length).toBeGreaterThan(0);
    expect(during.processes.length).toBeGreaterThanOrEqual(4);

    client.close();
    await client.closed();
    await waitUntil(() => leftNothing(sessionTraces(server.driver, server.runDir, ready.sessionId)), "session traces gone");
    expect(sessionTraces(server.driver, server.runDir, ready.sessionId)).toEqual(NO_TRACES);
    // The slots are host-wide: this server's are the ones its own process holds.
    expect(uidSlotsNaming(`${selfOwner()} `).length).toBe(server.registry.size);
  });

  it("answers bad frames with error frames and keeps the session working", async () => {
    const client = new LabClient(server.url);
    await client.start();
    client.ws.send("{not json");
    client.sendJson({ type: "shell.exec", cmd: "reboot" });
    client.sendJson({ type: "pty.resize", size: { cols: 0, rows: 0 } });
    client.sendJson({ type: "pty.resize", size: { cols: 100000, rows: 24 } });
    client.sendJson({ type: "pty.ack", bytes: -1 });
    // JSON that is valid but not an object at all.
    client.ws.send("null");
    client.ws.send("[1,2]");
    client.ws.send("42");
    await client.waitFor(() => client.errors().length >= 8, "eight error frames");
    expect(client.errors().map((e) => e.code)).toEqual([
      "bad_json", "unknown_type", "bad_resize", "bad_resize", "bad_message", "bad_message", "bad_message", "bad_message",
    ]);
    expect(client.errors()[1]?.message).toBe('Unknown message type "shell.exec".');
    expect(client.closeCode).toBeNull();

    client.sendJson({ type: "pty.resize", size: { cols: 132, rows: 40 } });
    expect(await client.run("stty size")).toBe("40 132");
    client.close();
    await client.closed();
  });

  it("closes with 1009 on an oversized frame, and other sessions carry on", async () => {
    const bystander = new LabClient(server.url);
    await bystander.start();
    const attacker = new LabClient(server.url);
    await attacker.start();
    attacker.ws.send(Buffer.alloc(MAX_FRAME_BYTES + 1, 0x61), { binary: true });
    expect(await attacker.closed()).toBe(CloseCode.MessageTooBig);
    expect(await bystander.run("echo still-here")).toBe("still-here");
    bystander.close();
    await bystander.closed();
  });

  it("takes a 96 KiB paste in 16 KiB frames, multi-byte characters split across frames intact", async () => {
    const client = new LabClient(server.url);
    await client.start();
    // Lines of 99 characters plus a newline; "é" is two bytes, so frame borders fall inside some.
    const line = `${"é".repeat(40)}${"x".repeat(59)}\n`;
    const paste = Buffer.from(line.repeat(700), "utf8");
    client.type("stty -echo; cat > /tmp/paste\r");
    await client.waitFor(() => client.output.includes("cat > /tmp/paste"), "cat started");
    for (let offset = 0; offset < paste.length; offset += 16 * 1024) {
      client.ws.send(paste.subarray(offset, offset + 16 * 1024), { binary: true });
    }
    client.type("\u0004");
    const expected = createHash("sha256").update(paste).digest("hex");
    expect(await client.run("stty echo; sha256sum < /tmp/paste | cut -d' ' -f1; wc -c < /tmp/paste")).toBe(`${expected}\n${paste.length}`);
    expect(client.errors()).toEqual([]);
    client.close();
    await client.closed();
  });

  it("drops input a program does not read, without queueing it for ever", async () => {
    const client = new LabClient(server.url);
    await client.start();
    await prompted(client);
    client.type("stty raw -echo; echo not-reading; sleep 30\r");
    await client.waitFor(() => /not-reading\r?\n/.test(client.output.split("stty raw")[1] ?? ""), "the shell asleep");
    // More than the queue holds, sent within the input budget (256 KiB a second).
    const notReading = "The shell is not reading its input right now, so what you typed was dropped.";
    for (let round = 0; round < 4 && !client.errors().some((e) => e.message === notReading); round++) {
      for (let i = 0; i < 8; i++) client.ws.send(Buffer.alloc(16 * 1024, 0x61), { binary: true });
      await new Promise((r) => setTimeout(r, 600));
    }
    await client.waitFor(() => client.errors().some((e) => e.message === notReading), "input refused");
    // The server still answers at once, and the socket stays open.
    const at = Date.now();
    client.sendJson({ type: "ping", at });
    await client.waitFor(() => client.messages.some((m) => m.type === "pong" && m.at === at), "pong");
    expect(client.closeCode).toBeNull();
    client.close();
    await client.closed();
  });

  it("closes after too many bad frames", async () => {
    const client = new LabClient(server.url);
    await client.opened();
    for (let i = 0; i < 25; i++) client.ws.send("garbage");
    expect(await client.closed()).toBe(CloseCode.TooManyErrors);
  });

  it("says the lab is full when every sandbox is taken", async () => {
    const clients = [new LabClient(server.url), new LabClient(server.url), new LabClient(server.url)];
    await Promise.all(clients.map((c) => c.start()));
    const late = new LabClient(server.url);
    await late.opened();
    late.sendJson({ type: "session.start", version: 1, size: { cols: 80, rows: 24 } });
    expect(await late.closed()).toBe(CloseCode.LabFull);
    expect(late.errors().map((e) => e.code)).toEqual(["lab_full"]);
    for (const c of clients) c.close();
    await Promise.all(clients.map((c) => c.closed()));
    // The next test needs a free sandbox: wait for these three to be torn down.
    // Torn down, not only gone from the list: capacity counts a sandbox until its teardown ends.
    await waitUntil(() => server.registry.occupied === 0, "the three sessions torn down");
  });

  it("ends the session with session.exit and 4000 when the shell exits", async () => {
    const client = new LabClient(server.url);
    await client.start();
    client.type("exit 7\r");
    expect(await client.closed()).toBe(CloseCode.SessionEnded);
    expect(client.messages.find((m) => m.type === "session.exit")).toEqual({ type: "session.exit", exitCode: 7, signal: null });
  });

  it("answers a request target no URL can be made of with 400, and keeps serving", async () => {
    expect(await rawRequest(server.port, "GET http://[/ HTTP/1.1\r\nHost: x\r\n\r\n")).toMatch(/^HTTP\/1\.1 400/);
    expect(await rawRequest(server.port, "GET http://[/ HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")).toMatch(/^HTTP\/1\.1 400/);
    const client = new LabClient(server.url);
    await client.start();
    expect(await client.run("echo alive")).toBe("alive");
    client.close();
    await client.closed();
  });

  it("refuses upgrades on other paths and WebSockets from foreign origins", async () => {
    expect(await rawUpgrade(server.port, "/other")).toMatch(/^HTTP\/1\.1 404/);
    expect(await rawUpgrade(server.port, "/ws", "http://evil.example")).toMatch(/^HTTP\/1\.1 403/);
    expect(await rawUpgrade(server.port, "/ws", `http://127.0.0.1:${server.port}`)).toMatch(/^HTTP\/1\.1 101/);
  });
});

describe("a host that cannot create sandboxes", () => {
  it("tells the page why, with its own close code", async () => {
    const lab = createLabServer({
      registry: null,
      unsupportedReason: "This server cannot create sandboxes: user namespaces (user.max_user_namespaces = 0).",
      features: checkHostFeatures({ launcher: LAUNCHER, rootfs: ROOTFS }),
      handleRequest: (_req: http.IncomingMessage, res: http.ServerResponse) => {
        res.writeHead(404).end();
      },
      allowedOrigins: [],
      dev: false,
    });
    const url = `ws://127.0.0.1:${await lab.listen(0, "127.0.0.1")}/ws`;
    const client = new LabClient(url);
    await client.opened();
    client.sendJson({ type: "session.start", version: 1, size: { cols: 80, rows: 24 } });
    expect(await client.closed()).toBe(CloseCode.KernelUnsupported);
    expect(client.errors()).toEqual([
      { type: "error", code: "kernel_unsupported", message: "This server cannot create sandboxes: user namespaces (user.max_user_namespaces = 0)." },
    ]);
    await lab.close();
  });
});

/** Send raw bytes and return the status line the server answers with. */
function rawRequest(port: number, request: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, "127.0.0.1", () => socket.write(request));
    socket.once("data", (data) => {
      resolve(data.toString("utf8").split("\r\n")[0] ?? "");
      socket.destroy();
    });
    socket.once("error", reject);
  });
}

/** Send a raw upgrade request and return the status line the server answers with. */
function rawUpgrade(port: number, path: string, origin?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, "127.0.0.1", () => {
      socket.write(
        `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
          `Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n` +
          (origin ? `Origin: ${origin}\r\n` : "") +
          "\r\n",
      );
    });
    socket.once("data", (data) => {
      resolve(data.toString("utf8").split("\r\n")[0] ?? "");
      socket.destroy();
    });
    socket.once("error", reject);
    setTimeout(() => {
      socket.destroy();
      reject(new Error(`no answer to the upgrade on ${path}`));
    }, 5_000);
  });
}
