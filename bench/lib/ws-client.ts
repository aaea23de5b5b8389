// A lean lab client for the WebSocket benchmarks: one socket, one session, speaking nslab's
// frames (common/protocol.ts) as a page does — session.start, pty.ack for every chunk drawn,
// keystrokes as binary frames, state.watch — and timing what a learner feels: how long until
// the prompt shows, and how long a typed character takes to come back. It keeps counters, not
// the output, so a thousand of them fit in one process.
//
// The same client talks to bench/peer/server.ts, which answers with the same frames.
import { randomBytes } from "node:crypto";
import { performance } from "node:perf_hooks";

import WebSocket from "ws";

import { PROTOCOL_VERSION, type ServerMessage, parseServerMessage } from "../../common/protocol";

export type SessionReady = Extract<ServerMessage, { type: "session.ready" }>;

export interface BenchClientOptions {
  /** The learner cookie (32 hex digits). Each client gets its own by default: the server lets
   *  one learner keep only a few sandboxes, so a thousand clients must be a thousand learners. */
  learnerId?: string;
  lesson?: string;
  cols?: number;
  rows?: number;
  /** Ask for the live kernel readings (state.watch) once the session is ready. */
  watchState?: boolean;
  /** Give up on connecting and starting after this long. */
  timeoutMs?: number;
}

export interface StartTimings {
  /** Socket opened (TCP + WebSocket handshake), from the constructor. */
  openMs: number;
  /** session.ready arrived. */
  readyMs: number;
  /** The first terminal output arrived (the shell's greeting, or its prompt). */
  firstByteMs: number;
  /** The prompt arrived: output that ends in "# " or "$ ", what a learner waits for. */
  promptMs: number;
}

/** The end of a bash prompt (root's "# ", anyone else's "$ "), as the last bytes of a chunk. */
const PROMPT_END = /[#$] $/;

/** The bytes bash's readline sends back for a Backspace (DEL): "\b \b" or "\b\x1b[K". */
const BACKSPACE_ECHO = 0x08;

export function newLearnerId(): string {
  return randomBytes(16).toString("hex");
}

export class BenchClient {
  readonly ws: WebSocket;
  readonly learnerId: string;
  ready: SessionReady | null = null;
  /** Terminal output bytes received, and acknowledged. */
  outputBytes = 0;
  ackedBytes = 0;
  /** state.delta frames received (while watching). */
  stateDeltas = 0;
  /** Error frames received, by code. */
  readonly errors = new Map<string, number>();
  closeCode: number | null = null;
  private acking = true;
  private readonly createdAt = performance.now();
  private openedAt = Number.NaN;
  private readyAt = Number.NaN;
  private firstByteAt = Number.NaN;
  private promptAt = Number.NaN;
  /** The last bytes of output, until the prompt has come. */
  private tail = "";
  /** Waiting for a chunk that holds this byte (an echo). */
  private waiter: { byte: number; resolve: (at: number) => void } | null = null;
  private readonly closeWaiters: Array<(code: number) => void> = [];

  constructor(
    readonly url: string,
    private readonly options: BenchClientOptions = {},
  ) {
    this.learnerId = options.learnerId ?? newLearnerId();
    this.ws = new WebSocket(url, { headers: { cookie: `nslab_learner=${this.learnerId}` }, perMessageDeflate: false });
    this.ws.binaryType = "nodebuffer";
    this.ws.on("open", () => {
      this.openedAt = performance.now();
    });
    this.ws.on("message", (data, isBinary) => this.onFrame(data as Buffer, isBinary));
    this.ws.on("close", (code) => {
      this.closeCode = code;
      for (const w of this.closeWaiters.splice(0)) w(code);
      this.waiter = null;
    });
    this.ws.on("error", () => {
      // Surfaced as a close (and by start() as a failure naming the close code).
    });
  }

  private onFrame(data: Buffer, isBinary: boolean): void {
    const now = performance.now();
    if (isBinary) {
      this.outputBytes += data.length;
      if (Number.isNaN(this.firstByteAt) && this.ready) this.firstByteAt = now;
      if (Number.isNaN(this.promptAt)) {
        this.tail = (this.tail + data.toString("latin1")).slice(-64);
        if (PROMPT_END.test(this.tail)) this.promptAt = now;
      }
      if (this.acking && this.ws.readyState === WebSocket.OPEN) {
        this.ws.send(JSON.stringify({ type: "pty.ack", bytes: data.length }));
        this.ackedBytes += data.length;
      }
      const waiter = this.waiter;
      if (waiter && data.includes(waiter.byte)) {
        this.waiter = null;
        waiter.resolve(now);
      }
      return;
    }
    const parsed = parseServerMessage(data.toString("utf8"));
    if (!parsed.ok) {
      this.errors.set("invalid_frame", (this.errors.get("invalid_frame") ?? 0) + 1);
      return;
    }
    const message = parsed.message;
    if (message.type === "session.ready") {
      this.ready = message;
      this.readyAt = now;
    } else if (message.type === "state.delta") {
      this.stateDeltas++;
    } else if (message.type === "error") {
      this.errors.set(message.code, (this.errors.get(message.code) ?? 0) + 1);
    }
  }

  /** Connect, start a session, wait for its prompt. Throws with what came instead. */
  async start(): Promise<StartTimings> {
    const timeoutMs = this.options.timeoutMs ?? 30_000;
    const deadline = performance.now() + timeoutMs;
    await this.until(() => this.ws.readyState === WebSocket.OPEN, deadline, "the socket to open");
    this.sendJson({
      type: "session.start",
      version: PROTOCOL_VERSION,
      ...(this.options.lesson ? { lesson: this.options.lesson } : {}),
      size: { cols: this.options.cols ?? 80, rows: this.options.rows ?? 24 },
    });
    await this.until(() => this.ready !== null && !Number.isNaN(this.promptAt), deadline, "session.ready and the prompt");
    if (this.options.watchState) this.watchState(true);
    return {
      openMs: this.openedAt - this.createdAt,
      readyMs: this.readyAt - this.createdAt,
      firstByteMs: this.firstByteAt - this.createdAt,
      promptMs: this.promptAt - this.createdAt,
    };
  }

  /** Polls: the condition is met by frames, and a closed socket ends the wait at once. */
  private async until(condition: () => boolean, deadline: number, what: string): Promise<void> {
    while (!condition()) {
      if (this.closeCode !== null) throw new Error(`socket closed (${this.closeCode}) waiting for ${what}; errors ${JSON.stringify([...this.errors])}`);
      if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 2));
    }
  }

  watchState(watch: boolean): void {
    this.sendJson({ type: "state.watch", watch });
  }

  sendJson(value: unknown): void {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(value));
  }

  type(text: string): void {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.send(Buffer.from(text, "utf8"), { binary: true });
  }

  /**
   * Echo latency: type one printable character and time its echo, in milliseconds. The
   * character is then erased (Backspace, not timed) so the line never grows. Rejects after
   * `timeoutMs` or when the socket closes.
   */
  async echo(char: string, timeoutMs = 5_000): Promise<number> {
    const byte = char.charCodeAt(0);
    if (char.length !== 1 || byte < 0x21 || byte > 0x7e) throw new Error(`echo needs one printable ASCII character, not ${JSON.stringify(char)}`);
    const sentAt = performance.now();
    const echoed = this.nextChunk(byte, timeoutMs);
    this.type(char);
    const at = await echoed;
    const erased = this.nextChunk(BACKSPACE_ECHO, timeoutMs);
    this.type("\x7f");
    await erased;
    return at - sentAt;
  }

  private nextChunk(byte: number, timeoutMs: number): Promise<number> {
    if (this.waiter) throw new Error("one echo at a time per client");
    return new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiter = null;
        reject(new Error(`no echo within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiter = {
        byte,
        resolve: (at) => {
          clearTimeout(timer);
          resolve(at);
        },
      };
      if (this.closeCode !== null) {
        clearTimeout(timer);
        this.waiter = null;
        reject(new Error(`socket closed (${this.closeCode})`));
      }
    });
  }

  /** Behave as a page that stopped drawing: no more acks, and the socket is no longer read,
   *  so the kernel's receive buffer fills and the server's send buffer with it. */
  stopReading(): void {
    this.acking = false;
    this.ws.pause();
  }

  close(): void {
    if (this.ws.readyState === WebSocket.OPEN || this.ws.readyState === WebSocket.CONNECTING) this.ws.close();
  }

  /** Resolves with the close code once the socket is closed. */
  closed(): Promise<number> {
    if (this.closeCode !== null) return Promise.resolve(this.closeCode);
    return new Promise((resolve) => this.closeWaiters.push(resolve));
  }

  /** Tear the socket down without the closing handshake (a page whose tab was killed). */
  terminate(): void {
    this.ws.terminate();
  }
}

/** Start `count` clients, `concurrency` at a time, within `deadlineMs` overall. Resolves with
 *  those that started and the failures of the others (the first few messages). */
export async function startMany(
  count: number,
  make: (index: number) => BenchClient,
  options: { concurrency: number; deadlineMs: number },
): Promise<{ clients: BenchClient[]; timings: StartTimings[]; failures: string[] }> {
  const clients: BenchClient[] = [];
  const timings: StartTimings[] = [];
  const failures: string[] = [];
  const stopAt = performance.now() + options.deadlineMs;
  let next = 0;
  const worker = async () => {
    while (next < count && performance.now() < stopAt) {
      const client = make(next++);
      try {
        timings.push(await client.start());
        clients.push(client);
      } catch (err) {
        failures.push((err as Error).message);
        client.terminate();
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(options.concurrency, count) }, worker));
  return { clients, timings, failures };
}

export interface EchoRun {
  /** Echo latencies in milliseconds; an echo that never came counts as the timeout. */
  samples: number[];
  timeouts: number;
  /** The first few failures, as they were. */
  failures: string[];
}

const CHARS = "abcdefghijklmnopqrstuvwxyz";

/**
 * Each client types one character every `periodMs` (a person typing steadily), staggered
 * across the period so that they do not all type at the same instant, for `durationMs` or
 * until `stop()` says so; gives every echo latency measured.
 */
export async function typeAndTime(
  clients: readonly BenchClient[],
  options: { durationMs: number; periodMs?: number; timeoutMs?: number; stop?: () => boolean },
): Promise<EchoRun> {
  const periodMs = options.periodMs ?? 100;
  const timeoutMs = options.timeoutMs ?? 5_000;
  const run: EchoRun = { samples: [], timeouts: 0, failures: [] };
  const t0 = performance.now();
  const sleepUntil = (at: number) => new Promise((r) => setTimeout(r, Math.max(0, at - performance.now())));
  await Promise.all(
    clients.map(async (client, i) => {
      const offset = (i * periodMs) / clients.length;
      for (let tick = 0; ; tick++) {
        const at = t0 + offset + tick * periodMs;
        if (at - t0 >= options.durationMs || options.stop?.()) return;
        await sleepUntil(at);
        try {
          run.samples.push(await client.echo(CHARS[tick % CHARS.length]!, timeoutMs));
        } catch (err) {
          run.timeouts++;
          run.samples.push(timeoutMs);
          if (run.failures.length < 5) run.failures.push((err as Error).message);
          if (client.closeCode !== null) return;
        }
        // A slow echo skips the ticks it overran rather than typing them in a burst.
        tick = Math.max(tick, Math.floor((performance.now() - t0 - offset) / periodMs));
      }
    }),
  );
  return run;
}

/**
 * One session opened, typed into and closed before anything is measured: a fresh server's
 * first session pays for compiling code that every later one finds ready. Resolves with the
 * session's host pid once its page has closed (the caller waits for the session to be gone).
 */
export async function warmUp(url: string, options: BenchClientOptions = {}): Promise<number> {
  const client = new BenchClient(url, options);
  try {
    await client.start();
    for (const char of "warmup") await client.echo(char);
    return client.ready?.hostPid ?? 0;
  } finally {
    client.close();
    await client.closed();
  }
}
