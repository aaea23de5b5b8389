// The web edge against a hostile client: one that never reads what the server sends, floods
// pings or keystrokes, stops answering the heartbeat, comes from a page of another origin (a
// DNS-rebinding page, another scheme on the same host and port), or names a host the lab is not.
// Real servers on real ports; the attacking clients speak the WebSocket protocol over raw
// sockets, so they can stop reading, and send pongs nobody asked for, as a real attacker can.
import http from "node:http";
import net from "node:net";

import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import WebSocket, { WebSocketServer } from "ws";

import { CloseCode, PROTOCOL_VERSION } from "../../common/protocol";
import { WebOrigins, createLabServer } from "../http/lab-server";
import { checkHostFeatures } from "../kernel/features";
import { log } from "../log";
import { LAUNCHER, ROOTFS, sandboxUnavailable } from "../testing/kernel";
import { type TestLab, startTestLab } from "../testing/test-lab";
import { waitUntil } from "../testing/traces";
import { LabConnection, MAX_SEND_BUFFER_BYTES, PING_BURST } from "./lab-connection";

const MiB = 1024 * 1024;
/** What a flood may add to the server's memory; unbounded queues added hundreds of MiB. */
const RSS_GROWTH_LIMIT = 64 * MiB;
/** The same for a flood of one-byte keystrokes, which queued a buffer each (≈ 58 MiB measured). */
const KEYSTROKE_RSS_GROWTH_LIMIT = 32 * MiB;

// ---------------------------------------------------------------------------------------------
// A WebSocket client over a raw socket

interface Frame {
  opcode: number;
  payload: Buffer;
}

/** One client frame: FIN, the opcode, masked (with a zero key: the server unmasks all the same). */
function clientFrame(opcode: number, payload: Buffer): Buffer {
  const length = payload.length;
  const header = length < 126 ? Buffer.from([0x80 | opcode, 0x80 | length]) : Buffer.from([0x80 | opcode, 0x80 | 126, length >> 8, length & 0xff]);
  return Buffer.concat([header, Buffer.alloc(4), payload]);
}

class RawClient {
  private pending: Buffer = Buffer.alloc(0);
  readonly frames: Frame[] = [];
  ended = false;

  private constructor(
    readonly socket: net.Socket,
    /** The status line of the server's answer to the upgrade. */
    readonly status: string,
    rest: Buffer,
  ) {
    this.pending = rest;
    socket.on("close", () => {
      this.ended = true;
    });
    socket.on("error", () => {
      this.ended = true;
    });
  }

  /** Open /ws with these headers; the answer's status line is in `status` (101 when upgraded). */
  static open(port: number, headers: Record<string, string>): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const socket = net.connect(port, "127.0.0.1", () => {
        const lines = Object.entries({ host: `127.0.0.1:${port}`, ...headers }).map(([name, value]) => `${name}: ${value}\r\n`);
        socket.write(`GET /ws HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n${lines.join("")}\r\n`, "latin1");
      });
      let head = Buffer.alloc(0);
      const onData = (data: Buffer) => {
        head = Buffer.concat([head, data]);
        const end = head.indexOf("\r\n\r\n");
        if (end < 0) return;
        socket.off("data", onData);
        // Not read any further until the test says so: this client has stopped reading.
        socket.pause();
        resolve(new RawClient(socket, head.subarray(0, head.indexOf("\r\n")).toString("latin1"), head.subarray(end + 4)));
      };
      socket.on("data", onData);
      socket.once("error", reject);
      socket.once("close", () => reject(new Error("closed before answering the upgrade")));
    });
  }

  send(opcode: number, payload: Buffer | string): void {
    this.socket.write(clientFrame(opcode, Buffer.from(payload)));
  }

  sendJson(value: unknown): void {
    this.send(0x1, JSON.stringify(value));
  }

  /** Write `frame` again and again, `totalBytes` in all, waiting whenever the socket's buffer is
   *  full (so this process holds one chunk at most). Stops early when the connection ends, or
   *  when the server has not taken a chunk for `stallMs` (it stopped reading: its own bound).
   *  Returns the bytes the server took. */
  async flood(frame: Buffer, totalBytes: number, stallMs = 5_000): Promise<number> {
    const chunk = Buffer.concat(Array.from({ length: Math.max(1, Math.floor(64 * 1024 / frame.length)) }, () => frame));
    let sent = 0;
    while (sent < totalBytes && !this.ended) {
      if (!this.socket.write(chunk)) {
        const drained = await new Promise<boolean>((resolve) => {
          const timer = setTimeout(() => resolve(false), stallMs);
          const done = (ok: boolean) => {
            clearTimeout(timer);
            this.socket.off("drain", onDrain);
            this.socket.off("close", onClose);
            resolve(ok);
          };
          const onDrain = () => done(true);
          const onClose = () => done(false);
          this.socket.once("drain", onDrain);
          this.socket.once("close", onClose);
        });
        if (!drained) break;
      }
      sent += chunk.length;
    }
    return sent;
  }

  /** Start reading again, and parse the server's frames as they come. */
  read(): void {
    this.socket.on("data", (data: Buffer) => {
      this.pending = Buffer.concat([this.pending, data]);
      this.parse();
    });
    this.parse();
    this.socket.resume();
  }

  private parse(): void {
    for (;;) {
      if (this.pending.length < 2) return;
      const opcode = (this.pending[0] ?? 0) & 0x0f;
      let length = (this.pending[1] ?? 0) & 0x7f;
      let offset = 2;
      if (length === 126) {
        if (this.pending.length < 4) return;
        length = this.pending.readUInt16BE(2);
        offset = 4;
      } else if (length === 127) {
        if (this.pending.length < 10) return;
        length = Number(this.pending.readBigUInt64BE(2));
        offset = 10;
      }
      if (this.pending.length < offset + length) return;
      const payload = Buffer.from(this.pending.subarray(offset, offset + length));
      this.frames.push({ opcode, payload });
      this.pending = this.pending.subarray(offset + length);
      // A client that reads answers the heartbeat, as a browser does.
      if (opcode === 0x9 && !this.ended) this.send(0xa, payload);
    }
  }

  /** The JSON text frames received. */
  messages(): Array<{ type: string; [key: string]: unknown }> {
    return this.frames.filter((f) => f.opcode === 0x1).map((f) => JSON.parse(f.payload.toString("utf8")) as { type: string });
  }

  /** The code of the server's close frame, once one came. */
  closeCode(): number | null {
    const close = this.frames.find((f) => f.opcode === 0x8);
    return close && close.payload.length >= 2 ? close.payload.readUInt16BE(0) : null;
  }

  output(): string {
    return Buffer.concat(this.frames.filter((f) => f.opcode === 0x2).map((f) => f.payload)).toString("utf8");
  }

  destroy(): void {
    this.socket.destroy();
  }
}

/** The most this process's resident memory grows while `work` runs, sampled as it goes. */
async function rssGrowth(work: () => Promise<void>): Promise<number> {
  const before = process.memoryUsage().rss;
  let peak = before;
  const sampler = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().rss);
  }, 20);
  try {
    await work();
  } finally {
    clearInterval(sampler);
  }
  return Math.max(peak, process.memoryUsage().rss) - before;
}

function notFound(_req: http.IncomingMessage, res: http.ServerResponse): void {
  res.writeHead(404);
  res.end();
}

/** A lab server with no sandboxes behind it: enough for everything before session.start. */
async function startBareLab(options: { publicOrigins?: string[]; allowedOrigins?: string[]; heartbeat?: { intervalMs: number; timeoutMs: number } } = {}) {
  const lab = createLabServer({
    registry: null,
    unsupportedReason: "This test server has no sandboxes.",
    features: checkHostFeatures({ launcher: LAUNCHER, rootfs: ROOTFS }),
    handleRequest: notFound,
    allowedOrigins: options.allowedOrigins ?? [],
    publicOrigins: options.publicOrigins ?? [],
    ...(options.heartbeat ? { heartbeat: options.heartbeat } : {}),
    dev: false,
  });
  const port = await lab.listen(0, "127.0.0.1");
  return { lab, port };
}

const PING = clientFrame(0x1, Buffer.from(JSON.stringify({ type: "ping", at: 1 })));

// ---------------------------------------------------------------------------------------------

describe("a client that never reads", () => {
  let bare: Awaited<ReturnType<typeof startBareLab>>;

  beforeAll(async () => {
    bare = await startBareLab();
  });

  afterAll(async () => {
    await bare?.lab.close();
  });

  it("cannot grow the server's memory with 30 MiB of pings, and is closed for flooding", async () => {
    const client = await RawClient.open(bare.port, {});
    expect(client.status).toBe("HTTP/1.1 101 Switching Protocols");
    let took = 0;
    const growth = await rssGrowth(async () => {
      took = await client.flood(PING, 30 * MiB);
    });
    expect(growth).toBeLessThan(RSS_GROWTH_LIMIT);
    // The server took the flood in (it is not the client's own backpressure that saved it)...
    expect(took).toBeGreaterThan(MiB);
    // ...answered a burst of it, and closed the connection for the rest.
    client.read();
    await waitUntil(() => client.closeCode() !== null || client.ended, "the server's close");
    expect(client.closeCode()).toBe(CloseCode.TooManyErrors);
    expect(client.messages().filter((m) => m.type === "pong").length).toBeLessThanOrEqual(PING_BURST + 1);
    client.destroy();
  });

  it("answers pings before session.start only a few at a time, and closes a client that keeps on", async () => {
    const client = await RawClient.open(bare.port, {});
    client.read();
    for (let i = 0; i < 100; i++) client.sendJson({ type: "ping", at: i });
    await waitUntil(() => client.closeCode() !== null, "the server's close");
    expect(client.closeCode()).toBe(CloseCode.TooManyErrors);
    const pongs = client.messages().filter((m) => m.type === "pong");
    expect(pongs.length).toBeGreaterThan(0);
    expect(pongs.length).toBeLessThanOrEqual(PING_BURST + 1);
    // The refusals are coalesced too: one error frame per kind, not one per ping.
    const errors = client.messages().filter((m) => m.type === "error");
    expect(errors.length).toBeLessThanOrEqual(3);
    client.destroy();
  });

  it("closes a page whose socket buffer passes the bound with 4011, whatever the server had to say", async () => {
    // A session's messages (state.delta, progress) go through Attachment.send; here the test is
    // the session, sending to a connection whose page has stopped reading.
    const wss = new WebSocketServer({ port: 0, host: "127.0.0.1" });
    await new Promise((resolve) => wss.once("listening", resolve));
    const port = (wss.address() as net.AddressInfo).port;
    const accepted = new Promise<{ ws: WebSocket; connection: LabConnection }>((resolve) => {
      wss.once("connection", (ws) => resolve({ ws, connection: new LabConnection(ws, { registry: null, unsupportedReason: "" }, "test", "learner") }));
    });
    const client = await RawClient.open(port, {});
    const { ws, connection } = await accepted;
    const big = { type: "progress" as const, lesson: "x".repeat(60 * 1024), steps: [] };
    let peakBuffered = 0;
    const growth = await rssGrowth(async () => {
      for (let i = 0; i < 2000 && ws.readyState === WebSocket.OPEN; i++) {
        connection.send(big);
        peakBuffered = Math.max(peakBuffered, ws.bufferedAmount);
        if (i % 50 === 0) await new Promise((r) => setImmediate(r));
      }
    });
    expect(ws.readyState).not.toBe(WebSocket.OPEN);
    expect(peakBuffered).toBeLessThanOrEqual(MAX_SEND_BUFFER_BYTES + 64 * 1024);
    expect(growth).toBeLessThan(RSS_GROWTH_LIMIT);
    // A page that was only frozen for a moment finds out why when it reads again.
    client.read();
    await waitUntil(() => client.closeCode() !== null || client.ended, "the close frame");
    expect(client.closeCode()).toBe(CloseCode.StoppedReading);
    client.destroy();
    await new Promise((resolve) => wss.close(resolve));
  });
});

describe("the heartbeat", () => {
  let bare: Awaited<ReturnType<typeof startBareLab>>;

  beforeAll(async () => {
    // Short enough to wait for, with room for a busy shared machine's pauses.
    bare = await startBareLab({ heartbeat: { intervalMs: 200, timeoutMs: 2_000 } });
  });

  afterAll(async () => {
    await bare?.lab.close();
  });

  it("cuts off a client that stops answering pings", async () => {
    const before = bare.lab.sessionSockets;
    const client = await RawClient.open(bare.port, {});
    expect(client.status).toMatch(/ 101 /);
    expect(bare.lab.sessionSockets).toBe(before + 1);
    // The client reads nothing, so it would not notice the server hanging up: the server's
    // count of open sockets says it.
    await waitUntil(() => bare.lab.sessionSockets === before, "the server cutting the silent client off", 10_000);
    client.destroy();
  });

  it("cuts off a client that sends pongs nobody asked for but reads nothing", async () => {
    const client = await RawClient.open(bare.port, {});
    const pongs = setInterval(() => {
      if (!client.ended) client.send(0xa, "");
    }, 20);
    try {
      await waitUntil(() => client.ended, "the server cutting the client off", 10_000);
    } finally {
      clearInterval(pongs);
    }
  });

  it("keeps a page that answers its pings, however idle", async () => {
    const page = new WebSocket(`ws://127.0.0.1:${bare.port}/ws`);
    let pings = 0;
    page.on("ping", () => pings++);
    await new Promise((resolve) => page.once("open", resolve));
    await waitUntil(() => pings >= 8, "eight heartbeats", 10_000);
    expect(page.readyState).toBe(WebSocket.OPEN);
    page.close();
  });
});

describe("origins and hosts", () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it("by default takes the listening address only: not a rebinding page, not another scheme, not an unknown host", async () => {
    const { lab, port } = await startBareLab();
    const status = async (headers: Record<string, string>) => {
      const client = await RawClient.open(port, headers);
      client.destroy();
      return client.status.split(" ")[1];
    };
    try {
      expect(await status({ host: `localhost:${port}`, origin: `http://localhost:${port}` })).toBe("101");
      expect(await status({ host: `127.0.0.1:${port}`, origin: `http://127.0.0.1:${port}` })).toBe("101");
      expect(await status({ host: `[::1]:${port}`, origin: `http://[::1]:${port}` })).toBe("101");
      // No Origin: a command-line client; the host must still be the lab's.
      expect(await status({ host: `127.0.0.1:${port}` })).toBe("101");
      // A page of evil.example whose name now resolves to this server: its Host is its own.
      expect(await status({ host: `evil.example:${port}`, origin: `http://evil.example:${port}` })).toBe("421");
      expect(await status({ host: `evil.example:${port}` })).toBe("421");
      // The same host and port, another scheme: another origin.
      expect(await status({ host: `localhost:${port}`, origin: `https://localhost:${port}` })).toBe("403");
      // The lab's host, a page from elsewhere.
      expect(await status({ host: `localhost:${port}`, origin: "http://evil.example" })).toBe("403");
      expect(await status({ host: `localhost:${port}`, origin: "null" })).toBe("403");
    } finally {
      await lab.close();
    }
  });

  it("listening on every interface, answers to this machine's own addresses (a classroom on a LAN) and still not to a name it was not given", () => {
    const web = new WebOrigins([], [], { host: "0.0.0.0", port: 3000, addresses: ["127.0.0.1", "192.168.1.10", "fe80::1%eth0", "2001:db8::7"] });
    expect(web.originAllowed("http://192.168.1.10:3000")).toBe(true);
    expect(web.hostAllowed("192.168.1.10:3000")).toBe(true);
    expect(web.hostAllowed("[2001:db8::7]:3000")).toBe(true);
    // Another scheme, another port, a name that now resolves here: none of them.
    expect(web.originAllowed("https://192.168.1.10:3000")).toBe(false);
    expect(web.hostAllowed("192.168.1.10:3001")).toBe(false);
    expect(web.hostAllowed("evil.example:3000")).toBe(false);
    expect(web.originAllowed("http://evil.example:3000")).toBe(false);
    // Bound to one address, only that one.
    const bound = new WebOrigins([], [], { host: "127.0.0.1", port: 3000, addresses: ["192.168.1.10"] });
    expect(bound.hostAllowed("192.168.1.10:3000")).toBe(false);
  });

  it("takes the configured public origin, and pages of the allowed origins", async () => {
    const { lab, port } = await startBareLab({ publicOrigins: ["https://lab.example.org"], allowedOrigins: ["https://course.example.org"] });
    const status = async (headers: Record<string, string>) => {
      const client = await RawClient.open(port, headers);
      client.destroy();
      return client.status.split(" ")[1];
    };
    try {
      expect(await status({ host: "lab.example.org", origin: "https://lab.example.org" })).toBe("101");
      expect(await status({ host: "lab.example.org:443", origin: "https://lab.example.org" })).toBe("101");
      expect(await status({ host: "lab.example.org", origin: "https://course.example.org" })).toBe("101");
      expect(await status({ host: "lab.example.org", origin: "http://lab.example.org" })).toBe("403");
      expect(await status({ host: "lab.example.org.evil.example", origin: "https://lab.example.org" })).toBe("421");
      // A proxy on the same machine that passes its own upstream address as Host.
      expect(await status({ host: `127.0.0.1:${port}` })).toBe("101");
      // The listening address is no page origin once a public one is set.
      expect(await status({ host: `127.0.0.1:${port}`, origin: `http://127.0.0.1:${port}` })).toBe("403");
    } finally {
      await lab.close();
    }
  });

  it("logs a refused origin as a short, escaped prefix and its length", async () => {
    const { lab, port } = await startBareLab();
    const warn = vi.spyOn(log, "warn");
    try {
      // Bytes 0x80-0x9f are C1 control characters once read as latin1, as Node reads headers.
      const origin = `http://evil.example/"\\${"\u0085\u009b[31m".repeat(10)}${"a".repeat(15 * 1024)}`;
      const client = await RawClient.open(port, { host: `127.0.0.1:${port}`, origin });
      client.destroy();
      expect(client.status).toMatch(/ 403 /);
      const [fields] = warn.mock.calls.find(([, message]) => message === "websocket origin rejected") ?? [];
      const logged = fields as unknown as { origin: string; originLength: number };
      expect(logged.originLength).toBe(origin.length);
      expect(logged.origin.length).toBeLessThanOrEqual(200);
      expect(logged.origin.startsWith("http://evil.example/")).toBe(true);
      expect(logged.origin).not.toMatch(/[\u0000-\u001f\u007f-\u009f]/);
    } finally {
      await lab.close();
    }
  });
});

describe("the learner cookie", () => {
  const setCookie = async (port: number, headers: Record<string, string>): Promise<string> => {
    const res = await fetch(`http://127.0.0.1:${port}/`, { headers });
    return res.headers.get("set-cookie") ?? "";
  };

  it("is Secure when the page came over HTTPS (a proxy's X-Forwarded-Proto), not over plain HTTP", async () => {
    const { lab, port } = await startBareLab();
    try {
      expect(await setCookie(port, {})).toMatch(/^nslab_learner=[0-9a-f]{32};/);
      expect(await setCookie(port, {})).not.toMatch(/;\s*Secure/i);
      expect(await setCookie(port, { "x-forwarded-proto": "https" })).toMatch(/;\s*Secure(;|$)/);
      expect(await setCookie(port, { "x-forwarded-proto": "http" })).not.toMatch(/;\s*Secure/i);
    } finally {
      await lab.close();
    }
  });

  it("is Secure whenever the lab's public origin is https", async () => {
    const { lab, port } = await startBareLab({ publicOrigins: ["https://lab.example.org"] });
    try {
      expect(await setCookie(port, { host: "lab.example.org" })).toMatch(/;\s*Secure(;|$)/);
    } finally {
      await lab.close();
    }
  });
});

// ---------------------------------------------------------------------------------------------

const unavailable = sandboxUnavailable();

describe.skipIf(unavailable !== null)(`keystrokes to a shell that reads nothing${unavailable ? ` (skipped: ${unavailable})` : ""}`, () => {
  let server: TestLab;

  beforeAll(async () => {
    server = await startTestLab({ name: "hostile-web", capacity: 1, graceMs: 0 });
  });

  afterAll(async () => {
    await server?.close();
  });

  it("bounds the server's memory and sends at most one error of a kind a second", async () => {
    const client = await RawClient.open(server.port, {});
    client.read();
    client.sendJson({ type: "session.start", version: PROTOCOL_VERSION, size: { cols: 80, rows: 24 } });
    await waitUntil(() => client.messages().some((m) => m.type === "session.ready"), "session.ready", 30_000);
    await waitUntil(() => /# $/.test(client.output()), "the shell's prompt", 30_000);
    client.send(0x2, "sleep 1000\r");
    await waitUntil(() => client.output().includes("sleep 1000"), "the command echoed");
    // From here the page stops reading and types one byte a frame, as fast as it can.
    client.socket.pause();
    client.socket.removeAllListeners("data");
    const key = clientFrame(0x2, Buffer.from("a"));
    const startedAt = Date.now();
    const growth = await rssGrowth(async () => {
      // 10 MiB: 1.5 million keystrokes, sent within the heartbeat's patience.
      await client.flood(key, 10 * MiB);
    });
    expect(growth).toBeLessThan(KEYSTROKE_RSS_GROWTH_LIMIT);
    expect(client.ended).toBe(false);
    // Reading again: a pong to a ping sent now comes after every frame the flood was answered with.
    client.read();
    client.sendJson({ type: "ping", at: 42 });
    await waitUntil(() => client.messages().some((m) => m.type === "pong" && m.at === 42), "the pong after the flood's answers");
    const seconds = (Date.now() - startedAt) / 1000;
    // Each kind of refusal (typing too fast, the shell not reading) at most once a second.
    const errors = client.messages().filter((m) => m.type === "error");
    const kinds = new Set(errors.map((e) => `${String(e.code)} ${String(e.message)}`));
    expect(errors.length).toBeGreaterThan(0);
    expect(errors.length).toBeLessThanOrEqual(kinds.size * (Math.ceil(seconds) + 1));
    client.destroy();
  });
});
