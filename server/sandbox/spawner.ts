// Terminals started by a helper process (native/spawner.c) rather than by forking the server.
// fork() copies the forking process's page tables, so node-pty's forkpty (and child_process,
// which forks too) holds the server's only thread for about 10 ms per session start with a
// 300 MB heap, more as it grows (spawner.test.ts measures it), and a wave of joins stalls every
// open terminal. The helper is started once, while the server is still small; each terminal it
// opens comes back as the master's descriptor over a unix socket (SCM_RIGHTS), and each child's
// exit as a message.
//
// Never blocking the event loop: the socket is not watched by Node at all. After every reply
// the helper writes one "\n" on its stdout, an ordinary pipe Node reads as a stream, and each
// time that pipe has data the socket is drained with non-blocking recvmsg until EAGAIN.
// Requests go out with non-blocking sendmsg; one that does not fit waits in a queue.
//
// Wire format (both directions, one SOCK_SEQPACKET packet per message): NUL-terminated fields,
// the first naming the message; the list of messages is in native/spawner.c's header.
import { type ChildProcess, spawn } from "node:child_process";
import fs from "node:fs";
import type net from "node:net";
import tty from "node:tty";

import { errno as lastErrno, koffi, libcFunction } from "../kernel/libc";
import { SIGKILL } from "../kernel/pidfd";
import { type Logger, log as rootLog } from "../log";

const socketpairCall = libcFunction("int socketpair(int domain, int type, int protocol, _Out_ int *sv)");
const sendmsgCall = libcFunction("intptr_t sendmsg(int fd, void *msg, int flags)");
const recvmsgCall = libcFunction("intptr_t recvmsg(int fd, void *msg, int flags)");
const ioctlCall = libcFunction("int ioctl(int fd, unsigned long request, ...)");
const fcntlCall = libcFunction("int fcntl(int fd, int cmd, ...)");

const AF_UNIX = 1;
const SOCK_SEQPACKET = 5;
const SOCK_CLOEXEC = 0o2000000;
const MSG_CTRUNC = 0x8;
const MSG_TRUNC = 0x20;
const MSG_DONTWAIT = 0x40;
const MSG_NOSIGNAL = 0x4000;
const MSG_CMSG_CLOEXEC = 0x40000000;
const SOL_SOCKET = 1;
const SCM_RIGHTS = 1;
const EINTR = 4;
const EAGAIN = 11;
const F_DUPFD_CLOEXEC = 1030;
const TIOCSWINSZ = 0x5414;

/** The helper's bounds (native/spawner.c): a request beyond them is a bug on this side. */
export const SPAWNER_LIMITS = { requestBytes: 65536, fieldBytes: 8192, args: 256, env: 256, statusFdMax: 1023 } as const;
const PROTOCOL_VERSION = "2";

/** How long a new helper may take to say "ready", and the helper to answer a spawn. */
const READY_TIMEOUT_MS = 5_000;
const REPLY_TIMEOUT_MS = 10_000;
/** After a child's exit, how long its output may still take to drain before the terminal is
 *  closed anyway (a process the launcher left behind could hold the terminal open). */
const OUTPUT_GRACE_MS = 1_000;
/** The input descriptor stays open this long after close(): a write already handed to libuv's
 *  thread pool must not land on an unrelated descriptor that reused the number. */
const INPUT_CLOSE_DELAY_MS = 1_000;
/** Restart backoff after the helper dies: doubling from the first delay to the last; a helper
 *  that ran this long before it died starts the count again. */
const RESTART_FIRST_MS = 250;
const RESTART_MAX_MS = 30_000;
const RESTART_RESET_AFTER_MS = 30_000;
/** A helper that dies this many times in a row before saying "ready" is not used again. */
const MAX_FAILED_STARTS = 3;

// ---------------------------------------------------------------------------------------------
// sendmsg/recvmsg through koffi. struct msghdr and struct cmsghdr are laid out by hand for
// 64-bit Linux (x86-64 and arm64 share the layout); every call is synchronous and on this one
// thread, so one scratch area serves them all.

const LAYOUT_OK = process.platform === "linux" && (process.arch === "x64" || process.arch === "arm64");
const MSGHDR = 0; // name, namelen(+pad), iov, iovlen, control, controllen, flags(+pad): 56 bytes
const IOVEC = 64; // base, len
const CONTROL = 128;
const CONTROL_BYTES = 16 + 8 * 4; // CMSG_SPACE for 8 descriptors
const DATA = 256;
const SCRATCH_BYTES = DATA + SPAWNER_LIMITS.requestBytes;

let scratch: { memory: Buffer; address: bigint } | null = null;
function scratchArea(): { memory: Buffer; address: bigint } {
  if (!scratch) {
    const pointer: unknown = koffi().alloc("uint8_t", SCRATCH_BYTES);
    scratch = { memory: Buffer.from(koffi().view(pointer, SCRATCH_BYTES)), address: koffi().address(pointer) };
  }
  return scratch;
}

function writeMsghdr(memory: Buffer, address: bigint, dataLength: number, controlLength: number): void {
  memory.fill(0, MSGHDR, DATA);
  memory.writeBigUInt64LE(address + BigInt(IOVEC), MSGHDR + 16);
  memory.writeBigUInt64LE(1n, MSGHDR + 24);
  if (controlLength > 0) {
    memory.writeBigUInt64LE(address + BigInt(CONTROL), MSGHDR + 32);
    memory.writeBigUInt64LE(BigInt(controlLength), MSGHDR + 40);
  }
  memory.writeBigUInt64LE(address + BigInt(DATA), IOVEC);
  memory.writeBigUInt64LE(BigInt(dataLength), IOVEC + 8);
}

export interface Packet {
  payload: Buffer;
  /** Descriptors that came with it, close-on-exec; the receiver owns (and must close) them. */
  fds: number[];
  /** The packet or its descriptors did not fit: it is not a message of the protocol. */
  truncated: boolean;
}

/** One end of the SOCK_SEQPACKET socket between the server and the helper. Never blocks. */
export class PacketSocket {
  private closed = false;

  constructor(readonly fd: number) {}

  /** False once closed: its number may then belong to another file, so nothing touches it. */
  get open(): boolean {
    return !this.closed;
  }

  /** A connected pair, both ends close-on-exec. */
  static pair(): [PacketSocket, PacketSocket] {
    const fds = new Int32Array(2);
    if ((socketpairCall(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fds) as number) !== 0) {
      throw new Error(`socketpair AF_UNIX SOCK_SEQPACKET: errno ${lastErrno()}`);
    }
    return [new PacketSocket(fds[0] ?? -1), new PacketSocket(fds[1] ?? -1)];
  }

  /** "again": the peer's queue is full, try later. Throws on any other error (the peer is
   *  gone: EPIPE, ECONNRESET). */
  send(payload: Buffer, passFds: readonly number[] = []): "sent" | "again" {
    if (this.closed) throw new Error("sendmsg: the socket is closed");
    if (payload.length === 0 || payload.length > SPAWNER_LIMITS.requestBytes) throw new Error(`a packet of ${payload.length} bytes`);
    if (passFds.length > 2) throw new Error(`${passFds.length} descriptors in one packet`);
    const { memory, address } = scratchArea();
    // CMSG_LEN(n * sizeof(int)), and CMSG_SPACE: that rounded up to 8.
    const cmsgLength = 16 + 4 * passFds.length;
    const cmsgSpace = (cmsgLength + 7) & ~7;
    writeMsghdr(memory, address, payload.length, passFds.length === 0 ? 0 : cmsgSpace);
    payload.copy(memory, DATA);
    if (passFds.length > 0) {
      memory.fill(0, CONTROL, CONTROL + cmsgSpace);
      memory.writeBigUInt64LE(BigInt(cmsgLength), CONTROL);
      memory.writeInt32LE(SOL_SOCKET, CONTROL + 8);
      memory.writeInt32LE(SCM_RIGHTS, CONTROL + 12);
      passFds.forEach((fd, i) => memory.writeInt32LE(fd, CONTROL + 16 + 4 * i));
    }
    for (;;) {
      const sent = sendmsgCall(this.fd, memory.subarray(MSGHDR), MSG_DONTWAIT | MSG_NOSIGNAL) as number;
      if (sent >= 0) return "sent";
      const errno = lastErrno();
      if (errno === EINTR) continue;
      if (errno === EAGAIN) return "again";
      throw new Error(`sendmsg: errno ${errno}`);
    }
  }

  /** The next packet, "again" when none is queued, "eof" when the peer has closed. */
  receive(): Packet | "again" | "eof" {
    if (this.closed) return "eof";
    const { memory, address } = scratchArea();
    writeMsghdr(memory, address, SPAWNER_LIMITS.requestBytes, CONTROL_BYTES);
    memory.fill(0, CONTROL, CONTROL + CONTROL_BYTES);
    let received: number;
    for (;;) {
      received = recvmsgCall(this.fd, memory.subarray(MSGHDR), MSG_DONTWAIT | MSG_CMSG_CLOEXEC) as number;
      if (received >= 0) break;
      const errno = lastErrno();
      if (errno === EINTR) continue;
      if (errno === EAGAIN) return "again";
      throw new Error(`recvmsg: errno ${errno}`);
    }
    const flags = memory.readInt32LE(MSGHDR + 48);
    const controlLength = Number(memory.readBigUInt64LE(MSGHDR + 40));
    const fds: number[] = [];
    for (let at = 0; at + 16 <= controlLength;) {
      const length = Number(memory.readBigUInt64LE(CONTROL + at));
      if (length < 16 || at + length > controlLength) break;
      if (memory.readInt32LE(CONTROL + at + 8) === SOL_SOCKET && memory.readInt32LE(CONTROL + at + 12) === SCM_RIGHTS) {
        for (let i = 16; i + 4 <= length; i += 4) fds.push(memory.readInt32LE(CONTROL + at + i));
      }
      at += (length + 7) & ~7;
    }
    if (received === 0 && fds.length === 0) return "eof";
    return {
      payload: Buffer.from(memory.subarray(DATA, DATA + received)),
      fds,
      truncated: (flags & (MSG_TRUNC | MSG_CTRUNC)) !== 0,
    };
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    fs.closeSync(this.fd);
  }
}

// ---------------------------------------------------------------------------------------------
// The messages

/** Fields to a packet; throws for what the helper would refuse (a bug of the caller). */
export function encodeFields(fields: readonly string[]): Buffer {
  const parts: Buffer[] = [];
  for (const field of fields) {
    const bytes = Buffer.from(field, "utf8");
    if (bytes.includes(0)) throw new Error("spawner: a field holds a NUL byte");
    if (bytes.length > SPAWNER_LIMITS.fieldBytes) throw new Error(`spawner: a field of ${bytes.length} bytes`);
    parts.push(bytes, Buffer.alloc(1));
  }
  const packet = Buffer.concat(parts);
  if (packet.length > SPAWNER_LIMITS.requestBytes) throw new Error(`spawner: a request of ${packet.length} bytes`);
  return packet;
}

function splitFields(payload: Buffer): string[] | null {
  if (payload.length === 0 || payload[payload.length - 1] !== 0) return null;
  return payload.subarray(0, payload.length - 1).toString("utf8").split("\0");
}

/** A decimal number as the helper writes them: no sign, no leading zeros. */
function parseCount(text: string | undefined, max: number): number | null {
  if (text === undefined || !/^(0|[1-9][0-9]{0,9})$/.test(text)) return null;
  const value = Number(text);
  return value <= max ? value : null;
}

export type SpawnerReply =
  | { type: "ready"; version: string }
  | { type: "spawned"; id: number; pid: number }
  | { type: "spawn-failed"; id: number; message: string }
  | { type: "exited"; id: number; exitCode: number | null; signal: number | null }
  | { type: "signalled"; id: number; sent: boolean }
  | { type: "layer-made"; id: number }
  | { type: "layer-failed"; id: number; message: string }
  | { type: "refused"; id: number | null; message: string };

/** Parse one reply strictly: the exact fields of its type, or null. */
export function parseReply(payload: Buffer): SpawnerReply | null {
  const f = splitFields(payload);
  if (!f) return null;
  const id = parseCount(f[1], 0x7fffffff);
  switch (f[0]) {
    case "ready":
      return f.length === 2 && f[1] ? { type: "ready", version: f[1] } : null;
    case "spawned": {
      const pid = parseCount(f[2], 0x7fffffff);
      return f.length === 3 && id && pid ? { type: "spawned", id, pid } : null;
    }
    case "spawn-failed":
      return f.length === 3 && id ? { type: "spawn-failed", id, message: f[2] ?? "" } : null;
    case "exited": {
      const n = parseCount(f[3], 255);
      if (f.length !== 4 || !id || n === null || (f[2] !== "exit" && f[2] !== "signal")) return null;
      return f[2] === "exit" ? { type: "exited", id, exitCode: n, signal: null } : { type: "exited", id, exitCode: null, signal: n };
    }
    case "signalled":
      return f.length === 3 && id && (f[2] === "sent" || f[2] === "gone") ? { type: "signalled", id, sent: f[2] === "sent" } : null;
    case "layer-made":
      return f.length === 2 && id ? { type: "layer-made", id } : null;
    case "layer-failed":
      return f.length === 3 && id ? { type: "layer-failed", id, message: f[2] ?? "" } : null;
    case "refused":
      return f.length === 3 && (f[1] === "-" || id) ? { type: "refused", id: f[1] === "-" ? null : id, message: f[2] ?? "" } : null;
    default:
      return null;
  }
}

export interface SpawnOptions {
  /** Absolute path of the program (no PATH search). */
  file: string;
  args: readonly string[];
  /** The program's whole environment. */
  env: Readonly<Record<string, string>>;
  cols: number;
  rows: number;
  /** A descriptor for the child at number `target` (the launcher's --status-fd). spawn() takes
   *  its own copy at once, so the caller may close theirs as soon as it returns. */
  passFd?: { fd: number; target: number };
  /** A layer from makeLayer() for the child at number `target` (the launcher's --layer-fd);
   *  copied at once too: the caller keeps its own, which holds the layer's filesystem. */
  layerFd?: { fd: number; target: number };
}

export function encodeSpawn(id: number, o: SpawnOptions): Buffer {
  if (!o.file.startsWith("/")) throw new Error(`spawner: ${o.file} is not an absolute path`);
  if (o.args.length > SPAWNER_LIMITS.args - 1) throw new Error(`spawner: ${o.args.length} arguments`);
  const env = Object.entries(o.env).map(([key, value]) => {
    if (!key || key.includes("=")) throw new Error(`spawner: bad environment name ${key}`);
    return `${key}=${value}`;
  });
  if (env.length > SPAWNER_LIMITS.env) throw new Error(`spawner: ${env.length} environment entries`);
  const size = (n: number) => String(Math.min(0xffff, Math.max(1, Math.floor(n))));
  for (const passed of [o.passFd, o.layerFd]) {
    if (passed && !(passed.target >= 3 && passed.target <= SPAWNER_LIMITS.statusFdMax)) throw new Error(`spawner: descriptor target ${passed.target}`);
  }
  if (o.passFd && o.layerFd && o.passFd.target === o.layerFd.target) throw new Error("spawner: the status pipe and the layer at one number");
  return encodeFields([
    "spawn", String(id), size(o.cols), size(o.rows), o.passFd ? String(o.passFd.target) : "-", o.layerFd ? String(o.layerFd.target) : "-",
    o.file, String(o.args.length + 1), o.file, ...o.args, String(env.length), ...env,
  ]);
}

// ---------------------------------------------------------------------------------------------
// One terminal and the process in it

export interface TerminalExit {
  exitCode: number | null;
  signal: number | null;
}

/**
 * A child of the helper in its own terminal: its output as a stream, its input descriptor, its
 * size, and its exit. The exit is delivered after the last of its output (the terminal reads
 * EIO once no process holds its other side), or OUTPUT_GRACE_MS after the exit at the latest.
 */
export class SpawnedTerminal {
  /** The master's descriptor for writes (PtyInput) and size changes: a copy that outlives the
   *  output stream, which closes its own when the terminal ends. */
  readonly inputFd: number;
  private readonly stream: tty.ReadStream;
  private listener: ((chunk: Buffer) => void) | null = null;
  private held: Buffer[] = [];
  private outputEnded = false;
  private exit: TerminalExit | null = null;
  private exitDelivered = false;
  private readonly exitListeners: Array<(exit: TerminalExit) => void> = [];
  private graceTimer: NodeJS.Timeout | null = null;
  private closed = false;

  constructor(
    masterFd: number,
    readonly pid: number,
    private readonly signal: (signal: number) => void,
    private readonly log: Logger,
  ) {
    const copy = fcntlCall(masterFd, F_DUPFD_CLOEXEC, "int", 3) as number;
    if (copy < 0) {
      fs.closeSync(masterFd);
      throw new Error(`fcntl F_DUPFD_CLOEXEC: errno ${lastErrno()}`);
    }
    this.inputFd = copy;
    try {
      // As node-pty reads its master: a tty stream, which libuv reads without a thread.
      this.stream = new tty.ReadStream(masterFd);
    } catch (err) {
      fs.closeSync(masterFd);
      fs.closeSync(copy);
      throw err;
    }
    this.stream.on("data", (chunk: Buffer) => {
      if (this.listener) this.listener(chunk);
      else this.held.push(chunk);
    });
    this.stream.on("end", () => this.endOutput());
    this.stream.on("close", () => this.endOutput());
    this.stream.on("error", (err: NodeJS.ErrnoException) => {
      // EIO is how a terminal says its last other holder closed it: the end of the output.
      if (err.code === "EAGAIN") return;
      if (err.code !== "EIO") this.log.warn({ pid, err: err.message }, "terminal read failed");
      this.endOutput();
    });
  }

  /** Output as it comes; what came before the first listener is delivered to it first. */
  onData(listener: (chunk: Buffer) => void): { dispose(): void } {
    this.listener = listener;
    const held = this.held;
    this.held = [];
    for (const chunk of held) listener(chunk);
    return {
      dispose: () => {
        if (this.listener === listener) this.listener = null;
      },
    };
  }

  onExit(listener: (exit: TerminalExit) => void): void {
    if (this.exitDelivered && this.exit) listener(this.exit);
    else this.exitListeners.push(listener);
  }

  get exited(): boolean {
    return this.exitDelivered;
  }

  resize(cols: number, rows: number): void {
    if (this.closed) return;
    const size = Buffer.alloc(8);
    size.writeUInt16LE(Math.min(0xffff, Math.max(1, Math.floor(rows))), 0);
    size.writeUInt16LE(Math.min(0xffff, Math.max(1, Math.floor(cols))), 2);
    if ((ioctlCall(this.inputFd, TIOCSWINSZ, "void *", size) as number) !== 0) {
      this.log.warn({ pid: this.pid, errno: lastErrno() }, "terminal resize failed");
    }
  }

  pause(): void {
    this.stream.pause();
  }

  resume(): void {
    this.stream.resume();
  }

  /** Signal the process through the helper, which knows whether it is still there. */
  kill(signal: number): void {
    if (this.exit || signal < 1) return;
    this.signal(signal);
  }

  /** Stop reading and release the terminal's descriptors. Safe to call twice. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.listener = null;
    this.held = [];
    if (this.graceTimer) clearTimeout(this.graceTimer);
    this.stream.destroy();
    const fd = this.inputFd;
    setTimeout(() => fs.close(fd, () => undefined), INPUT_CLOSE_DELAY_MS).unref();
  }

  /** From the Spawner: the helper reaped the process (or died, taking it along). */
  processExited(exit: TerminalExit): void {
    if (this.exit) return;
    this.exit = exit;
    if (this.outputEnded) this.deliverExit();
    else {
      this.graceTimer = setTimeout(() => {
        this.stream.destroy();
        this.endOutput();
      }, OUTPUT_GRACE_MS);
      this.graceTimer.unref();
    }
  }

  private endOutput(): void {
    if (this.outputEnded) return;
    this.outputEnded = true;
    if (this.exit) this.deliverExit();
  }

  private deliverExit(): void {
    if (this.exitDelivered || !this.exit) return;
    this.exitDelivered = true;
    if (this.graceTimer) clearTimeout(this.graceTimer);
    for (const listener of this.exitListeners.splice(0)) listener(this.exit);
  }
}

// ---------------------------------------------------------------------------------------------
// The helper process and its client

export type SpawnResult =
  | { ok: true; terminal: SpawnedTerminal }
  /** "unavailable": the helper cannot run here (use node-pty); "restarting": it died a moment
   *  ago and is not started again yet; "failed": this start failed, the next may work. */
  | { ok: false; reason: "unavailable" | "restarting" | "failed"; message: string };

export interface HelperExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** Close the descriptors of the requests never sent. */
function closeOutbox(helper: Helper): void {
  for (const item of helper.outbox.splice(0)) for (const fd of item.passFds) fs.closeSync(fd);
}

/** The helper as started: its process and the server's end of its socket. */
export function startHelper(helperPath: string): { child: ChildProcess; socket: PacketSocket } {
  const [mine, theirs] = PacketSocket.pair();
  let child: ChildProcess;
  try {
    // The one fork of the server this module makes, done while it is small (and again only
    // after the helper died). Nothing of the server's environment is needed there.
    // (Typed loosely: Next's global types make NODE_ENV a required key of ProcessEnv.)
    child = spawn(helperPath, ["--parent-pid", String(process.pid)], {
      stdio: ["ignore", "pipe", "pipe", theirs.fd],
      cwd: "/",
      env: {} as NodeJS.ProcessEnv,
    });
  } catch (err) {
    mine.close();
    throw err;
  } finally {
    theirs.close();
  }
  return { child, socket: mine };
}

interface Pending {
  resolve(result: SpawnResult): void;
  timer: NodeJS.Timeout;
}

/** A session's layer, mounted by the helper (its `layer` request): the mount's root directory,
 *  which holds the filesystem for as long as it is open. On failure, `surely` tells whether
 *  nothing is mounted for certain (the helper said it failed, or was never asked), or whether
 *  the helper may still be at it (no answer in time, or it died meanwhile): then the image must
 *  not be mounted again by anyone else, since two mounts of one ext4 corrupt it. */
export type LayerResult = { ok: true; fd: number } | { ok: false; message: string; surely: boolean };

/** One running helper: replaced by a new one when it dies. */
interface Helper {
  child: ChildProcess;
  socket: PacketSocket;
  startedAt: number;
  ready: boolean;
  down: boolean;
  readyTimer: NodeJS.Timeout;
  /** Requests the socket had no room for yet, in order, with the copies of the descriptors
   *  they carry (closed once sent). */
  outbox: Array<{ payload: Buffer; passFds: number[] }>;
  flushTimer: NodeJS.Timeout | null;
  pending: Map<number, Pending>;
  layers: Map<number, { resolve(result: LayerResult): void; timer: NodeJS.Timeout }>;
  terminals: Map<number, SpawnedTerminal>;
  /** Children whose spawn timed out here: killed when they arrive, their exit not wanted. */
  abandoned: Set<number>;
  exited: Promise<HelperExit>;
}

export interface SpawnerOptions {
  log?: Logger;
  /** The first restart delay after the helper died (doubles up to 30 s). */
  restartDelayMs?: number;
  /** Told each helper's pid as soon as it is spawned (each restart too), before it serves a
   *  spawn: the host moves it into the sessions' CPU cgroup. */
  onHelperStarted?: (pid: number) => void;
}

export class Spawner {
  private helper: Helper | null = null;
  private nextId = 1;
  private closed = false;
  /** Why the helper cannot be used here, once that is known; logged once. */
  private unavailable: string | null = null;
  private failedStarts = 0;
  private crashes = 0;
  private restartAt = 0;
  private readonly log: Logger;
  private readonly restartFirstMs: number;
  private readonly onHelperStarted: ((pid: number) => void) | undefined;

  constructor(
    private readonly helperPath: string,
    options: SpawnerOptions = {},
  ) {
    this.log = (options.log ?? rootLog).child({ component: "spawner" });
    this.restartFirstMs = options.restartDelayMs ?? RESTART_FIRST_MS;
    this.onHelperStarted = options.onHelperStarted;
    if (!LAYOUT_OK) this.giveUp(`this build lays out struct msghdr for 64-bit Linux only, not ${process.platform}/${process.arch}`);
    else {
      try {
        fs.accessSync(helperPath, fs.constants.X_OK);
      } catch {
        this.giveUp(`${helperPath} is missing or not executable (npm install builds it)`);
      }
    }
    if (!this.unavailable) this.startHelper();
  }

  /** False once the helper is known not to work here: terminals then come from node-pty. */
  get usable(): boolean {
    return !this.closed && this.unavailable === null;
  }

  /** Usable, and not waiting out the back-off after the helper died: a start now would get a
   *  terminal (the caller uses node-pty meanwhile rather than fail the learner's start). */
  get ready(): boolean {
    return this.usable && ((this.helper !== null && !this.helper.down) || Date.now() >= this.restartAt);
  }

  /** The running helper's pid, or null between a death and the next start. */
  get helperPid(): number | null {
    return this.helper && !this.helper.down ? (this.helper.child.pid ?? null) : null;
  }

  /** Resolves when the helper running now exits (at once when none is running). */
  helperExited(): Promise<HelperExit> {
    return this.helper && !this.helper.down ? this.helper.exited : Promise.resolve({ code: null, signal: null });
  }

  /** Start `file` in a new terminal. Throws only for options the helper would refuse. */
  spawn(options: SpawnOptions): Promise<SpawnResult> {
    const id = this.takeId();
    const payload = encodeSpawn(id, options);
    if (this.closed) return Promise.resolve({ ok: false, reason: "failed", message: "the terminal spawner is closed" });
    if (this.unavailable) return Promise.resolve({ ok: false, reason: "unavailable", message: this.unavailable });
    if (!this.helper) {
      const wait = this.restartAt - Date.now();
      if (wait > 0) {
        return Promise.resolve({
          ok: false,
          reason: "restarting",
          message: `the server's terminal spawner is restarting; try again in ${Math.ceil(wait / 1000)} s`,
        });
      }
      this.startHelper();
    }
    const helper = this.helper;
    if (!helper) return Promise.resolve({ ok: false, reason: "failed", message: this.unavailable ?? "the terminal spawner did not start" });
    const passFds: number[] = [];
    for (const passed of [options.passFd, options.layerFd]) {
      if (!passed) continue;
      const copy = fcntlCall(passed.fd, F_DUPFD_CLOEXEC, "int", 3) as number;
      if (copy < 0) {
        for (const fd of passFds) fs.closeSync(fd);
        throw new Error(`fcntl F_DUPFD_CLOEXEC ${passed.fd}: errno ${lastErrno()}`);
      }
      passFds.push(copy);
    }
    return new Promise<SpawnResult>((resolve) => {
      const timer = setTimeout(() => {
        helper.pending.delete(id);
        helper.abandoned.add(id);
        this.log.error({ id }, "the terminal spawner did not answer a spawn in time");
        resolve({ ok: false, reason: "failed", message: `the terminal spawner did not answer within ${REPLY_TIMEOUT_MS / 1000} s` });
        this.updateRef(helper);
      }, REPLY_TIMEOUT_MS);
      helper.pending.set(id, { resolve, timer });
      this.updateRef(helper);
      this.send(helper, payload, passFds);
    });
  }

  /**
   * Have the helper attach a session's layer image to a loop device and mount it, detached (in
   * no mount namespace): a sandbox prepared ahead then starts without doing that itself, and
   * the filesystem's unmount comes when the caller closes the descriptor, not as the sandbox
   * exits. Failure is not an error: the launcher mounts the image itself (--layer-image).
   */
  makeLayer(image: string): Promise<LayerResult> {
    const id = this.takeId();
    const payload = encodeFields(["layer", String(id), image]);
    // As for a spawn: a helper that has not said "ready" yet reads the request once it has.
    if (!this.helper && !this.closed && !this.unavailable && Date.now() >= this.restartAt) this.startHelper();
    const helper = this.helper;
    if (this.closed || !helper || helper.down) return Promise.resolve({ ok: false, message: "the terminal spawner is not running", surely: true });
    return new Promise<LayerResult>((resolve) => {
      const timer = setTimeout(() => {
        helper.layers.delete(id);
        this.log.error({ id }, "the terminal spawner did not answer a layer request in time");
        resolve({ ok: false, message: `the terminal spawner did not answer within ${REPLY_TIMEOUT_MS / 1000} s`, surely: false });
        this.updateRef(helper);
      }, REPLY_TIMEOUT_MS);
      helper.layers.set(id, { resolve, timer });
      this.updateRef(helper);
      this.send(helper, payload, []);
    });
  }

  /** Close the socket: the helper kills what it still runs and exits. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    const helper = this.helper;
    if (helper && !helper.down) {
      closeOutbox(helper);
      helper.socket.close();
      // An idle helper holds no reference on the event loop; one that is closing does, so that
      // a caller awaiting helperExited() (and its clean-up after it) is not cut short by the
      // process exiting with nothing else to do.
      this.updateRef(helper);
    }
  }

  /** The next request's ID: spawns and layers share one sequence, as IDs in replies. */
  private takeId(): number {
    const id = this.nextId;
    this.nextId = this.nextId >= 0x7fffffff ? 1 : this.nextId + 1;
    return id;
  }

  private giveUp(why: string): void {
    if (this.unavailable) return;
    this.unavailable = why;
    this.log.warn({ reason: why }, "terminals are started by forking the server (node-pty): the terminal spawner cannot be used");
  }

  private startHelper(): void {
    let started: ReturnType<typeof startHelper>;
    try {
      started = startHelper(this.helperPath);
    } catch (err) {
      this.giveUp(`cannot start ${this.helperPath}: ${(err as Error).message}`);
      return;
    }
    const { child, socket } = started;
    if (child.pid !== undefined) this.onHelperStarted?.(child.pid);
    let resolveExited!: (exit: HelperExit) => void;
    const helper: Helper = {
      child,
      socket,
      startedAt: Date.now(),
      ready: false,
      down: false,
      readyTimer: setTimeout(() => {
        this.log.error({ pid: child.pid }, "the terminal spawner did not say ready in time");
        child.kill("SIGKILL");
      }, READY_TIMEOUT_MS),
      outbox: [],
      flushTimer: null,
      pending: new Map(),
      layers: new Map(),
      terminals: new Map(),
      abandoned: new Set(),
      exited: new Promise((resolve) => {
        resolveExited = resolve;
      }),
    };
    helper.readyTimer.unref();
    this.helper = helper;
    const stdout = child.stdout as net.Socket;
    const stderr = child.stderr as net.Socket;
    stderr.unref();
    stdout.on("data", () => this.drain(helper));
    stdout.on("error", () => undefined);
    let partial = "";
    stderr.setEncoding("utf8");
    stderr.on("data", (text: string) => {
      partial += text;
      const lines = partial.split("\n");
      partial = (lines.pop() ?? "").slice(-1024);
      for (const line of lines) if (line.trim()) this.log.warn({ pid: child.pid, line: line.slice(0, 512) }, "terminal spawner says");
    });
    stderr.on("error", () => undefined);
    let ended = false;
    const onDown = (code: number | null, signal: NodeJS.Signals | null, err?: Error) => {
      if (ended) return;
      ended = true;
      this.helperDown(helper, code, signal, err);
      resolveExited({ code, signal });
    };
    child.on("exit", (code, signal) => onDown(code, signal));
    child.on("error", (err) => onDown(null, null, err));
    this.updateRef(helper);
  }

  /** Keep the process alive for the helper only while an answer is awaited (a start, or the
   *  exit of a terminal it runs): an idle helper must not keep a short-lived process (a test,
   *  `nslab run`) from exiting. */
  private updateRef(helper: Helper): void {
    // Closing counts as busy until it has exited (close()).
    const busy = !helper.down && (this.closed || helper.pending.size > 0 || helper.layers.size > 0 || helper.terminals.size > 0 || !helper.ready);
    const stdout = helper.child.stdout as net.Socket | null;
    if (busy) {
      helper.child.ref();
      stdout?.ref();
    } else {
      helper.child.unref();
      stdout?.unref();
    }
  }

  private send(helper: Helper, payload: Buffer, passFds: number[]): void {
    helper.outbox.push({ payload, passFds });
    this.flush(helper);
  }

  private flush(helper: Helper): void {
    helper.flushTimer = null;
    while (!helper.down && helper.outbox.length > 0) {
      const item = helper.outbox[0];
      if (!item) break;
      let sent: "sent" | "again";
      try {
        sent = helper.socket.send(item.payload, item.passFds);
      } catch (err) {
        // The helper is gone; its exit event fails what waits.
        this.log.warn({ err: (err as Error).message }, "terminal spawner socket closed");
        return;
      }
      if (sent === "again") {
        helper.flushTimer = setTimeout(() => this.flush(helper), 5);
        return;
      }
      helper.outbox.shift();
      for (const fd of item.passFds) fs.closeSync(fd);
    }
  }

  /** Read every reply queued on the socket, without blocking. */
  private drain(helper: Helper): void {
    for (;;) {
      let packet: Packet | "again" | "eof";
      try {
        packet = helper.socket.receive();
      } catch (err) {
        this.log.warn({ err: (err as Error).message }, "terminal spawner socket unreadable");
        return;
      }
      if (packet === "again" || packet === "eof") return;
      this.dispatch(helper, packet);
    }
  }

  private dispatch(helper: Helper, packet: Packet): void {
    const reply = packet.truncated ? null : parseReply(packet.payload);
    const fds = [...packet.fds];
    const closeFds = () => {
      for (const fd of fds.splice(0)) fs.closeSync(fd);
    };
    if (!reply) {
      closeFds();
      this.log.error({ packet: packet.payload.toString("utf8", 0, 120).replace(/\0/g, " ") }, "terminal spawner sent a malformed reply");
      return;
    }
    switch (reply.type) {
      case "ready": {
        closeFds();
        if (reply.version !== PROTOCOL_VERSION) {
          this.log.error({ version: reply.version }, "terminal spawner speaks another protocol version");
          helper.child.kill("SIGKILL");
          return;
        }
        helper.ready = true;
        clearTimeout(helper.readyTimer);
        this.failedStarts = 0;
        this.updateRef(helper);
        return;
      }
      case "spawned": {
        const masterFd = fds.shift();
        closeFds();
        const pending = helper.pending.get(reply.id);
        if (masterFd === undefined || !pending) {
          if (masterFd !== undefined) fs.closeSync(masterFd);
          if (pending) this.settle(helper, reply.id, { ok: false, reason: "failed", message: "the terminal spawner sent no terminal" });
          // A start that timed out here: its child is not wanted.
          this.send(helper, encodeFields(["kill", String(reply.id), String(SIGKILL)]), []);
          return;
        }
        let terminal: SpawnedTerminal;
        try {
          terminal = new SpawnedTerminal(masterFd, reply.pid, (signal) => this.signal(helper, reply.id, signal), this.log);
        } catch (err) {
          helper.abandoned.add(reply.id);
          this.send(helper, encodeFields(["kill", String(reply.id), String(SIGKILL)]), []);
          this.settle(helper, reply.id, { ok: false, reason: "failed", message: `cannot read the new terminal: ${(err as Error).message}` });
          return;
        }
        helper.terminals.set(reply.id, terminal);
        this.settle(helper, reply.id, { ok: true, terminal });
        return;
      }
      case "spawn-failed":
        closeFds();
        this.settle(helper, reply.id, { ok: false, reason: "failed", message: `the terminal could not be started: ${reply.message}` });
        return;
      case "exited": {
        closeFds();
        const terminal = helper.terminals.get(reply.id);
        helper.terminals.delete(reply.id);
        helper.abandoned.delete(reply.id);
        this.updateRef(helper);
        terminal?.processExited({ exitCode: reply.exitCode, signal: reply.signal });
        return;
      }
      case "signalled":
        closeFds();
        return;
      case "layer-made":
      case "layer-failed": {
        const mountFd = reply.type === "layer-made" ? fds.shift() : undefined;
        closeFds();
        const waiting = helper.layers.get(reply.id);
        if (!waiting) {
          // Asked for by a preparation that gave up waiting: nobody holds it but this.
          if (mountFd !== undefined) fs.close(mountFd, () => undefined);
          return;
        }
        helper.layers.delete(reply.id);
        clearTimeout(waiting.timer);
        this.updateRef(helper);
        if (reply.type === "layer-failed") waiting.resolve({ ok: false, message: reply.message, surely: true });
        else if (mountFd === undefined) waiting.resolve({ ok: false, message: "the terminal spawner sent no layer", surely: false });
        else waiting.resolve({ ok: true, fd: mountFd });
        return;
      }
      case "refused": {
        closeFds();
        // Every request is built here and checked before it is sent: a refusal is our bug.
        this.log.error({ id: reply.id, reason: reply.message }, "terminal spawner refused a request");
        const message = `the terminal spawner refused the request: ${reply.message}`;
        if (reply.id !== null && helper.pending.has(reply.id)) this.settle(helper, reply.id, { ok: false, reason: "failed", message });
        const layer = reply.id !== null ? helper.layers.get(reply.id) : undefined;
        if (reply.id !== null && layer) {
          helper.layers.delete(reply.id);
          clearTimeout(layer.timer);
          layer.resolve({ ok: false, message, surely: true });
          this.updateRef(helper);
        }
        return;
      }
    }
  }

  private settle(helper: Helper, id: number, result: SpawnResult): void {
    const pending = helper.pending.get(id);
    if (!pending) return;
    helper.pending.delete(id);
    clearTimeout(pending.timer);
    pending.resolve(result);
    this.updateRef(helper);
  }

  private signal(helper: Helper, id: number, signal: number): void {
    if (helper.down || !helper.terminals.has(id)) return;
    this.send(helper, encodeFields(["kill", String(id), String(signal)]), []);
  }

  private helperDown(helper: Helper, code: number | null, signal: NodeJS.Signals | null, err?: Error): void {
    // Replies it sent before it died are still queued: exits among them are real statuses.
    this.drain(helper);
    helper.down = true;
    clearTimeout(helper.readyTimer);
    if (helper.flushTimer) clearTimeout(helper.flushTimer);
    closeOutbox(helper);
    helper.socket.close();
    if (this.helper === helper) this.helper = null;
    for (const id of [...helper.pending.keys()]) {
      this.settle(helper, id, { ok: false, reason: "failed", message: "the terminal spawner stopped before it started the terminal" });
    }
    for (const { resolve, timer } of helper.layers.values()) {
      clearTimeout(timer);
      resolve({ ok: false, message: "the terminal spawner stopped before it answered a layer request", surely: false });
    }
    helper.layers.clear();
    // Their launchers die with the helper (their parent-death signal); the sandboxes with them.
    const lost = [...helper.terminals.values()];
    helper.terminals.clear();
    for (const terminal of lost) terminal.processExited({ exitCode: null, signal: SIGKILL });
    if (this.closed) return;
    const ranMs = Date.now() - helper.startedAt;
    if (!helper.ready) this.failedStarts += 1;
    this.crashes = ranMs >= RESTART_RESET_AFTER_MS ? 1 : this.crashes + 1;
    const delay = Math.min(RESTART_MAX_MS, this.restartFirstMs * 2 ** (this.crashes - 1));
    this.restartAt = Date.now() + delay;
    this.log.error(
      { pid: helper.child.pid, code, signal, err: err?.message, terminals: lost.length, restartInMs: delay },
      "terminal spawner stopped; the sandboxes it started end with it",
    );
    if (this.failedStarts >= MAX_FAILED_STARTS) this.giveUp(`${this.helperPath} stopped ${this.failedStarts} times before it was ready`);
  }
}
