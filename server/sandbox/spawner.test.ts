// The terminal spawner (native/spawner.c and its client, spawner.ts): terminals that work as
// node-pty's do, exits and signals reported, requests checked, descriptors kept out of the
// child, and a helper that ends with the server and comes back after it dies. The last tests
// start real sandboxes through it, and measure what it saves the event loop.
import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { PerformanceObserver, monitorEventLoopDelay } from "node:perf_hooks";

import koffi from "koffi";
import * as pty from "node-pty";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { hostCgroupDriver } from "./cgroup";
import { SandboxHost } from "./host";
import { openLayerStorage, writeLayerImage } from "./layer-disk";
import { DEFAULT_LIMITS } from "./limits";
import { PtyInput } from "./pty-input";
import type { Sandbox } from "./sandbox";
import {
  type Packet,
  PacketSocket,
  type SpawnOptions,
  type SpawnedTerminal,
  Spawner,
  type SpawnerReply,
  type TerminalExit,
  encodeFields,
  encodeSpawn,
  parseReply,
  startHelper,
} from "./spawner";
import { PROJECT_ROOT, diskLayersUnavailable, loopBackingInodes, sandboxUnavailable, testHostOptions } from "../testing/kernel";

const pipe2 = koffi.load("libc.so.6").func("int pipe2(_Out_ int *fds, int flags)");

let HELPER = "";
beforeAll(async () => {
  // The same build step as npm install / npm test (rebuilt only when spawner.c is newer).
  const setup = (await import("../../scripts/setup.mjs" as string)) as { buildSpawner(): string };
  HELPER = setup.buildSpawner();
});

const ENV = { PATH: "/usr/bin:/bin", LANG: "C.UTF-8" };

/** Poll until `check` returns a value (not undefined), or fail naming `what`. */
async function until<T>(check: () => T | undefined, what: string, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

function processGone(pid: number): boolean | undefined {
  try {
    // A zombie is gone for our purposes: it runs nothing and holds no terminal.
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2).startsWith("Z") ? true : undefined;
  } catch {
    return true;
  }
}

/** A terminal with its output collected and its exit awaited. */
async function open(spawner: Spawner, script: string, extra: Partial<SpawnOptions> = {}) {
  const result = await spawner.spawn({ file: "/bin/sh", args: ["-c", script], env: ENV, cols: 80, rows: 24, ...extra });
  if (!result.ok) throw new Error(`spawn failed: ${result.reason}: ${result.message}`);
  const terminal = result.terminal;
  let output = "";
  terminal.onData((chunk) => {
    output += chunk.toString("utf8");
  });
  const exit = new Promise<TerminalExit>((resolve) => terminal.onExit(resolve));
  return {
    terminal,
    exit,
    get output() {
      return output;
    },
  };
}

describe("the terminal spawner", () => {
  let spawner: Spawner;
  beforeAll(() => {
    spawner = new Spawner(HELPER);
  });
  afterAll(() => spawner.close());

  it("runs a command in a terminal of the size asked for, with node-pty's settings, and its output arrives", async () => {
    const t = await open(spawner, "stty size; stty -a; tty; exit 0", { cols: 77, rows: 33 });
    expect(await t.exit).toEqual({ exitCode: 0, signal: null });
    t.terminal.close();
    const lines = t.output.split("\r\n");
    expect(lines[0]).toBe("33 77");
    const settings = t.output.replace(/\r\n/g, " ");
    // Canonical mode with echo, signals, CR→NL in and NL→CR NL out, UTF-8 erase, DEL as erase.
    for (const flag of ["icanon", "echo", "isig", "icrnl", "onlcr", "opost", "iutf8", "ixon", "cs8", "hupcl"]) {
      expect(settings).toMatch(new RegExp(`(^| )${flag}( |$)`));
    }
    for (const flag of ["-icanon", "-echo", "-isig", "-iutf8"]) expect(settings).not.toMatch(new RegExp(`(^| )${flag}( |$)`));
    expect(settings).toContain("erase = ^?;");
    expect(settings).toContain("intr = ^C;");
    expect(settings).toContain("eol = <undef>;");
    expect(lines.find((l) => l.startsWith("/dev/pts/"))).toBeTruthy();
  });

  it("passes input through to the program, and a resize reaches it", async () => {
    const t = await open(spawner, "read line; echo \"got:$line\"; read again; stty size; exit 0");
    const input = new PtyInput(t.terminal.inputFd);
    expect(input.write(Buffer.from("héllo\r"))).toBe(true);
    await until(() => (t.output.includes("got:héllo") ? true : undefined), "the echoed line");
    t.terminal.resize(132, 40);
    input.write(Buffer.from("\r"));
    expect(await t.exit).toEqual({ exitCode: 0, signal: null });
    input.stop();
    t.terminal.close();
    expect(t.output).toContain("got:héllo\r\n");
    expect(t.output).toContain("40 132\r\n");
  });

  it("reports an exit status, a death by signal, and a kill asked for", async () => {
    const three = await open(spawner, "exit 3");
    expect(await three.exit).toEqual({ exitCode: 3, signal: null });
    const killed = await open(spawner, "kill -KILL $$");
    expect(await killed.exit).toEqual({ exitCode: null, signal: 9 });
    const sleeper = await open(spawner, "echo sleeping; exec sleep 1000");
    await until(() => (sleeper.output.includes("sleeping") ? true : undefined), "the sleeper");
    sleeper.terminal.kill(9);
    expect(await sleeper.exit).toEqual({ exitCode: null, signal: 9 });
    expect(await until(() => processGone(sleeper.terminal.pid), "the sleeper gone")).toBe(true);
    for (const t of [three, killed, sleeper]) t.terminal.close();
  });

  it("fails a start cleanly when the file cannot be run", async () => {
    const result = await spawner.spawn({ file: "/no/such/file", args: [], env: ENV, cols: 80, rows: 24 });
    expect(result).toEqual({ ok: false, reason: "failed", message: "the terminal could not be started: execve /no/such/file: No such file or directory" });
    const after = await open(spawner, "echo still-here");
    expect(await after.exit).toEqual({ exitCode: 0, signal: null });
    after.terminal.close();
  });

  it("hands the child only its terminal and the status descriptor", async () => {
    // A close-on-exec pipe of this process, as the launch report's is: the child must get it
    // at 3 and nothing else of ours, not the helper's socket (at 3 in the helper), not its pipes.
    const fds = new Int32Array(2);
    expect(pipe2(fds, 0o2000000)).toBe(0);
    const [reader, writer] = [fds[0] ?? -1, fds[1] ?? -1];
    try {
      // exec: the listing is of the command's own descriptors, not of a shell running a pipeline.
      const t = await open(spawner, "echo report >&3; exec ls -l --quoting-style=literal /proc/self/fd", { passFd: { fd: writer, target: 3 } });
      fs.closeSync(writer);
      expect(await t.exit).toEqual({ exitCode: 0, signal: null });
      t.terminal.close();
      const listed = [...t.output.matchAll(/ (\d+) -> (\S+)\r\n/g)]
        .map(([, fd, target]) => [Number(fd), target ?? ""] as const)
        .filter(([, target]) => !/^\/proc\/\d+\/fd$/.test(target)); // ls's own directory
      expect(listed.map(([fd]) => fd)).toEqual([0, 1, 2, 3]);
      for (const [, target] of listed.slice(0, 3)) expect(target).toMatch(/^\/dev\/pts\/\d+$/);
      expect(listed[3]?.[1]).toMatch(/^pipe:\[\d+\]$/);
      const read = Buffer.alloc(64);
      expect(read.toString("utf8", 0, fs.readSync(reader, read))).toBe("report\n");
    } finally {
      fs.closeSync(reader);
    }
  });
});

/** The helper without its client: raw packets in, parsed replies out. */
class RawHelper {
  readonly replies: Array<{ reply: SpawnerReply | null; fds: number[] }> = [];
  readonly helper = startHelper(HELPER);

  constructor() {
    this.helper.child.stdout?.on("data", () => {
      for (;;) {
        const packet: Packet | "again" | "eof" = this.helper.socket.receive();
        if (packet === "again" || packet === "eof") return;
        this.replies.push({ reply: parseReply(packet.payload), fds: packet.fds });
      }
    });
  }

  send(payload: Buffer, fd: number | null = null): void {
    expect(this.helper.socket.send(payload, fd === null ? [] : [fd])).toBe("sent");
  }

  /** The next reply (after `from`) that `match` accepts. */
  async reply(match: (reply: SpawnerReply) => boolean, from = 0): Promise<{ reply: SpawnerReply; fds: number[]; index: number }> {
    return until(() => {
      for (let index = from; index < this.replies.length; index++) {
        const entry = this.replies[index];
        if (entry?.reply && match(entry.reply)) return { reply: entry.reply, fds: entry.fds, index };
      }
      return undefined;
    }, "a reply from the helper");
  }

  close(): Promise<unknown> {
    const exited = new Promise((resolve) => this.helper.child.once("exit", (code, signal) => resolve({ code, signal })));
    this.helper.socket.close();
    for (const { fds } of this.replies) for (const fd of fds.splice(0)) fs.closeSync(fd);
    return exited;
  }
}

describe("the spawner's requests", () => {
  it("takes a request at its bounds: the most arguments and environment entries the client sends", async () => {
    const spawner = new Spawner(HELPER);
    try {
      const env = Object.fromEntries(Array.from({ length: 256 }, (_, i) => [`V${i}`, "x"]));
      const args = ["-c", 'echo "$# $V255"', "sh", ...Array.from({ length: 252 }, () => "a")];
      const t = await open(spawner, "", { args, env: { ...env, PATH: "/usr/bin:/bin" }, file: "/bin/sh" }).catch((err: Error) => err);
      // PATH makes 257 entries: one past the bound, refused by the client before anything is sent.
      expect(t).toBeInstanceOf(Error);
      const atBound = await open(spawner, "", { args, env, file: "/bin/sh" });
      expect(await atBound.exit).toEqual({ exitCode: 0, signal: null });
      atBound.terminal.close();
      expect(atBound.output.trim()).toBe("252 x");
    } finally {
      spawner.close();
      await spawner.helperExited();
    }
  });

  it("refuses malformed requests one by one, and the child it runs is unharmed", async () => {
    const raw = new RawHelper();
    await raw.reply((r) => r.type === "ready");
    raw.send(encodeSpawn(7, { file: "/bin/cat", args: [], env: ENV, cols: 80, rows: 24 }));
    const spawned = await raw.reply((r) => r.type === "spawned");
    expect(spawned.fds).toHaveLength(1);
    const master = spawned.fds.splice(0)[0] ?? -1;
    const pid = spawned.reply.type === "spawned" ? spawned.reply.pid : 0;

    const pipe = fs.openSync("/dev/null", "r"); // a file, not a pipe: refused as a status descriptor
    const directory = fs.openSync("/tmp", "r"); // a host directory, not a layer's mount: refused
    const bad: Array<[string, Buffer, number | null]> = [
      ["not NUL-terminated", Buffer.from("spawn"), null],
      ["unknown", encodeFields(["reboot"]), null],
      ["empty fields", Buffer.from([0, 0, 0]), null],
      ["id 0", encodeFields(["kill", "0", "9"]), null],
      ["id with a leading zero", encodeFields(["kill", "07", "9"]), null],
      ["negative id", encodeFields(["kill", "-7", "9"]), null],
      ["bad signal", encodeFields(["kill", "7", "99"]), null],
      ["kill with extra field", encodeFields(["kill", "7", "9", "x"]), null],
      ["kill with a descriptor", encodeFields(["kill", "7", "9"]), pipe],
      ["duplicate id", encodeSpawn(7, { file: "/bin/true", args: [], env: ENV, cols: 80, rows: 24 }), null],
      ["relative file", encodeFields(["spawn", "8", "80", "24", "-", "-", "sh", "1", "sh", "0"]), null],
      ["argc too big", encodeFields(["spawn", "8", "80", "24", "-", "-", "/bin/sh", "5", "sh", "0"]), null],
      ["count mismatch", encodeFields(["spawn", "8", "80", "24", "-", "-", "/bin/sh", "1", "sh", "1"]), null],
      ["env without =", encodeFields(["spawn", "8", "80", "24", "-", "-", "/bin/sh", "1", "sh", "1", "PATH"]), null],
      ["zero columns", encodeFields(["spawn", "8", "0", "24", "-", "-", "/bin/sh", "1", "sh", "0"]), null],
      ["status fd without a descriptor", encodeFields(["spawn", "8", "80", "24", "3", "-", "/bin/sh", "1", "sh", "0"]), null],
      ["status fd below 3", encodeFields(["spawn", "8", "80", "24", "2", "-", "/bin/sh", "1", "sh", "0"]), pipe],
      ["status fd not a pipe", encodeFields(["spawn", "8", "80", "24", "3", "-", "/bin/sh", "1", "sh", "0"]), pipe],
      ["descriptor without status fd", encodeFields(["spawn", "8", "80", "24", "-", "-", "/bin/sh", "1", "sh", "0"]), pipe],
      ["layer fd a host directory", encodeFields(["spawn", "8", "80", "24", "-", "4", "/bin/sh", "1", "sh", "0"]), directory],
      ["layer fd without a descriptor", encodeFields(["spawn", "8", "80", "24", "-", "4", "/bin/sh", "1", "sh", "0"]), null],
      ["layer fd at the status number", encodeFields(["spawn", "8", "80", "24", "3", "3", "/bin/sh", "1", "sh", "0"]), pipe],
      ["layer without an image", encodeFields(["layer", "9"]), null],
      ["layer with a relative image", encodeFields(["layer", "9", "image.img"]), null],
      ["layer with a descriptor", encodeFields(["layer", "9", "/tmp/image.img"]), directory],
    ];
    let from = spawned.index + 1;
    for (const [what, payload, fd] of bad) {
      raw.send(payload, fd);
      const refused = await raw.reply((r) => r.type === "refused", from);
      expect(refused.reply.type, what).toBe("refused");
      from = refused.index + 1;
    }
    fs.closeSync(pipe);
    fs.closeSync(directory);
    // An empty packet is a request too (not the end of the socket): refused as well.
    const send = koffi.load("libc.so.6").func("intptr_t send(int fd, const void *buf, size_t len, int flags)");
    expect(send(raw.helper.socket.fd, Buffer.alloc(0), 0, 0x40)).toBe(0);
    from = (await raw.reply((r) => r.type === "refused" && r.message === "an empty packet", from)).index + 1;

    // Nothing happened to the running child: it still echoes what it is sent.
    fs.writeSync(master, "still alive\r");
    let echoed = "";
    await until(() => {
      try {
        const buffer = Buffer.alloc(256);
        echoed += buffer.toString("utf8", 0, fs.readSync(master, buffer));
      } catch {
        // EAGAIN (the master is non-blocking): nothing yet
      }
      return echoed.includes("still alive\r\nstill alive\r\n") ? true : undefined;
    }, "cat's echo");
    // The terminal's echo, then cat's copy.
    expect(echoed).toBe("still alive\r\nstill alive\r\n");
    expect(processGone(pid)).toBeUndefined();

    // A kill for it works; a second one, after it was reaped, is answered "gone" and harms nobody.
    raw.send(encodeFields(["kill", "7", "9"]));
    expect((await raw.reply((r) => r.type === "signalled", from)).reply).toEqual({ type: "signalled", id: 7, sent: true });
    const exited = await raw.reply((r) => r.type === "exited", from);
    expect(exited.reply).toEqual({ type: "exited", id: 7, exitCode: null, signal: 9 });
    raw.send(encodeFields(["kill", "7", "9"]));
    expect((await raw.reply((r) => r.type === "signalled" && !r.sent, exited.index + 1)).reply).toEqual({ type: "signalled", id: 7, sent: false });
    // The id is free again, and the helper still starts children.
    raw.send(encodeSpawn(7, { file: "/bin/true", args: [], env: ENV, cols: 80, rows: 24 }));
    const again = await raw.reply((r) => r.type === "exited" && r.exitCode === 0, exited.index + 1);
    expect(again.reply).toEqual({ type: "exited", id: 7, exitCode: 0, signal: null });
    fs.closeSync(master);
    expect(await raw.close()).toEqual({ code: 0, signal: null });
  });

  it("parses replies strictly", () => {
    const reply = (...fields: string[]) => parseReply(encodeFields(fields));
    expect(reply("spawned", "3", "123")).toEqual({ type: "spawned", id: 3, pid: 123 });
    expect(reply("exited", "3", "signal", "9")).toEqual({ type: "exited", id: 3, exitCode: null, signal: 9 });
    expect(reply("spawned", "03", "123")).toBeNull();
    expect(reply("spawned", "3")).toBeNull();
    expect(reply("exited", "3", "core", "9")).toBeNull();
    expect(reply("refused", "-", "why")).toEqual({ type: "refused", id: null, message: "why" });
    expect(reply("layer-made", "4")).toEqual({ type: "layer-made", id: 4 });
    expect(reply("layer-failed", "4", "why")).toEqual({ type: "layer-failed", id: 4, message: "why" });
    expect(reply("layer-made", "4", "x")).toBeNull();
    expect(parseReply(Buffer.from("ready"))).toBeNull();
    expect(() => encodeFields(["a\0b"])).toThrow(/NUL/);
  });
});

const LAYERS_TEST_DIR = `/var/tmp/nslab-test-spawner-${process.pid}`;
const noDiskLayers = diskLayersUnavailable();

describe.skipIf(noDiskLayers !== null)(`layers mounted ahead${noDiskLayers ? ` (skipped: ${noDiskLayers})` : ""}`, () => {
  let spawner: Spawner;
  let storage: ReturnType<typeof openLayerStorage>;
  beforeAll(() => {
    spawner = new Spawner(HELPER);
    storage = openLayerStorage({ dataDir: LAYERS_TEST_DIR, layerBytes: 32 * 1024 * 1024, layerInodes: 4096, setting: "disk" });
  });
  afterAll(async () => {
    spawner.close();
    await spawner.helperExited();
    fs.rmSync(LAYERS_TEST_DIR, { recursive: true, force: true });
  });
  const image = async (name: string): Promise<string> => {
    if (storage.mode !== "disk") throw new Error(storage.reason);
    const file = path.join(storage.dir, `${name}.img`);
    await writeLayerImage(file, storage.template, true);
    return file;
  };

  it("mounts a session's image with the layer's directories, hands it to a child at the number asked, and detaches it when the last holder closes it", async () => {
    const file = await image("1");
    const inode = fs.statSync(file).ino;
    // Asked for at once, as a server does as it starts: the helper answers once it is up.
    const made = await spawner.makeLayer(file);
    if (!made.ok) throw new Error(made.message);
    expect(fs.readdirSync(`/proc/self/fd/${made.fd}`).sort()).toEqual(["lost+found", "lower", "root", "upper", "work"]);
    expect(loopBackingInodes()).toContain(inode);
    // Nothing of the host's mount table: the mount is in no namespace until a launcher moves it.
    expect(fs.readFileSync("/proc/self/mountinfo", "utf8")).not.toContain(storage.mode === "disk" ? storage.dir : "?");
    const t = await open(spawner, "exec stat -f -c %T /proc/self/fd/4/", { layerFd: { fd: made.fd, target: 4 } });
    expect(await t.exit).toEqual({ exitCode: 0, signal: null });
    t.terminal.close();
    expect(t.output.trim()).toBe("ext2/ext3");
    fs.closeSync(made.fd);
    expect(loopBackingInodes()).not.toContain(inode);
  });

  it("fails a layer whose image is not root's alone, or missing, with nothing attached, and still serves", async () => {
    const open644 = await image("2");
    fs.chmodSync(open644, 0o644);
    const loose = await spawner.makeLayer(open644);
    expect(loose).toEqual({ ok: false, message: expect.stringContaining("not a regular file of root's that only root can read"), surely: true });
    const missing = await spawner.makeLayer(path.join(LAYERS_TEST_DIR, "none.img"));
    expect(missing).toEqual({ ok: false, message: expect.stringMatching(/^open_tree IMAGE: No such file/), surely: true });
    expect(loopBackingInodes()).not.toContain(fs.statSync(open644).ino);
    const t = await open(spawner, "echo still here");
    expect(await t.exit).toEqual({ exitCode: 0, signal: null });
    t.terminal.close();
  });
});

describe("the spawner's life", () => {
  it("exits when the server closes its socket, and takes its children along", async () => {
    const spawner = new Spawner(HELPER);
    const t = await open(spawner, "echo up; exec sleep 1000");
    await until(() => (t.output.includes("up") ? true : undefined), "the sleeper");
    const exited = spawner.helperExited();
    spawner.close();
    expect(await exited).toEqual({ code: 0, signal: null });
    expect(await t.exit).toEqual({ exitCode: null, signal: 9 });
    expect(await until(() => processGone(t.terminal.pid), "the sleeper gone")).toBe(true);
    t.terminal.close();
  });

  it("dies with the server, and so do the programs it started", async () => {
    // A stand-in server: starts a spawner and a child in it, prints both pids, is SIGKILLed.
    const script = `
      import { Spawner } from ${JSON.stringify(path.join(PROJECT_ROOT, "server/sandbox/spawner.ts"))};
      const spawner = new Spawner(${JSON.stringify(HELPER)});
      const r = await spawner.spawn({ file: "/bin/sleep", args: ["1000"], env: {}, cols: 80, rows: 24 });
      if (!r.ok) throw new Error(r.message);
      process.stdout.write(JSON.stringify({ helper: spawner.helperPid, child: r.terminal.pid }) + "\\n");
      setInterval(() => undefined, 1000);
    `;
    const server = spawn(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], {
      cwd: PROJECT_ROOT,
      stdio: ["ignore", "pipe", "inherit"],
      env: { ...process.env, LOG_LEVEL: "silent" },
    });
    let text = "";
    server.stdout?.on("data", (chunk: Buffer) => {
      text += chunk.toString();
    });
    const pids = await until(() => (text.includes("\n") ? (JSON.parse(text) as { helper: number; child: number }) : undefined), "the stand-in server", 30_000);
    expect(processGone(pids.helper)).toBeUndefined();
    expect(processGone(pids.child)).toBeUndefined();
    server.kill("SIGKILL");
    expect(await until(() => processGone(pids.helper), "the spawner gone")).toBe(true);
    expect(await until(() => processGone(pids.child), "its child gone")).toBe(true);
  });

  it("is restarted after a SIGKILL, with backoff, and the next start works", async () => {
    const spawner = new Spawner(HELPER, { restartDelayMs: 2_000 });
    const t = await open(spawner, "echo up; exec sleep 1000");
    await until(() => (t.output.includes("up") ? true : undefined), "the sleeper");
    const first = spawner.helperPid ?? 0;
    const exited = spawner.helperExited();
    process.kill(first, "SIGKILL");
    expect(await exited).toEqual({ code: null, signal: "SIGKILL" });
    // Its child ended with it (parent-death signal), and the server was told.
    expect(await t.exit).toEqual({ exitCode: null, signal: 9 });
    expect(await until(() => processGone(t.terminal.pid), "the sleeper gone")).toBe(true);
    t.terminal.close();
    // Within the backoff, a start is refused with a sentence that says so.
    const early = await spawner.spawn({ file: "/bin/true", args: [], env: ENV, cols: 80, rows: 24 });
    expect(early).toMatchObject({ ok: false, reason: "restarting" });
    expect(early.ok ? "" : early.message).toMatch(/^the server's terminal spawner is restarting; try again in [12] s$/);
    // After it, the next start restarts the helper and works.
    let result = await spawner.spawn({ file: "/bin/sh", args: ["-c", "exit 4"], env: ENV, cols: 80, rows: 24 });
    for (const deadline = Date.now() + 5_000; !result.ok && result.reason === "restarting" && Date.now() < deadline;) {
      await new Promise((r) => setTimeout(r, 50));
      result = await spawner.spawn({ file: "/bin/sh", args: ["-c", "exit 4"], env: ENV, cols: 80, rows: 24 });
    }
    if (!result.ok) throw new Error(result.message);
    expect(await new Promise((resolve) => result.ok && result.terminal.onExit(resolve))).toEqual({ exitCode: 4, signal: null });
    result.terminal.close();
    expect(spawner.helperPid).not.toBe(first);
    expect(spawner.helperPid).toBeGreaterThan(0);
    spawner.close();
  });

  it("says it cannot be used when its program is missing, so node-pty is used instead", async () => {
    const spawner = new Spawner("/no/such/nslab-spawner");
    expect(spawner.usable).toBe(false);
    expect(await spawner.spawn({ file: "/bin/true", args: [], env: ENV, cols: 80, rows: 24 })).toMatchObject({ ok: false, reason: "unavailable" });
  });
});

// ---------------------------------------------------------------------------------------------
// Real sandboxes through the spawner

const unavailable = sandboxUnavailable();
const RUN_DIR = `/run/nslab-test-spawner-${process.pid}`;
const CGROUP_PARENT = `/nslab-test-spawner-${process.pid}`;

describe.skipIf(unavailable !== null)(`sandboxes through the spawner${unavailable ? ` (skipped: ${unavailable})` : ""}`, () => {
  let host: SandboxHost;
  const found = hostCgroupDriver(CGROUP_PARENT);
  beforeAll(() => {
    if (!("driver" in found)) throw new Error(found.reason);
    host = new SandboxHost(found.driver, { ...testHostOptions(RUN_DIR), spawnerPath: HELPER });
  });
  afterAll(async () => {
    // It removes the helpers' cgroup too, once the spawner and its launchers are gone.
    await host?.close();
    const cpuParent = "driver" in found && found.driver.version === 1 ? Object.entries(found.driver.parents).find(([name]) => name.split(",").includes("cpu"))?.[1] : undefined;
    if (cpuParent) expect(fs.existsSync(`${cpuParent}-helpers`)).toBe(false);
    if ("driver" in found) for (const parent of Object.values(found.driver.parents)) if (fs.existsSync(parent)) fs.rmdirSync(parent);
    fs.rmSync(RUN_DIR, { recursive: true, force: true });
  });

  const sessions = () => ("driver" in found ? found.driver.listSessions() : []);

  function collect(sandbox: Sandbox) {
    let output = "";
    sandbox.onData((chunk) => {
      output += chunk.toString("utf8");
    });
    return {
      get output() {
        return output;
      },
    };
  }

  it.skipIf("driver" in found && found.driver.version !== 1)(
    "puts the spawner and the launchers it forks in one cpu cgroup beside the sessions' (v1; v2 leaves them in the server's)",
    async () => {
      const cpuCgroupOf = (pid: number) =>
        fs
          .readFileSync(`/proc/${pid}/cgroup`, "utf8")
          .split("\n")
          .find((line) => line.split(":")[1]?.split(",").includes("cpu"))
          ?.split(":")[2];
      const spawnerPid = host.spawner?.helperPid ?? 0;
      expect(spawnerPid).toBeGreaterThan(0);
      expect(cpuCgroupOf(spawnerPid)).toBe(`${CGROUP_PARENT}-helpers`);
      const sandbox = await host.start({ limits: DEFAULT_LIMITS, cols: 80, rows: 24, command: ["/bin/sleep", "30"] });
      try {
        const launcher = Number(fs.readFileSync(`/proc/${sandbox.hostPid}/stat`, "utf8").split(") ")[1]!.split(" ")[1]);
        expect(fs.readFileSync(`/proc/${launcher}/comm`, "utf8").trim()).toBe("nslab-launcher");
        expect(cpuCgroupOf(launcher)).toBe(`${CGROUP_PARENT}-helpers`);
        expect(cpuCgroupOf(sandbox.hostPid)).toBe(`${CGROUP_PARENT}/${sandbox.sessionId}`);
      } finally {
        await sandbox.destroy();
      }
    },
  );

  it("starts a learner's shell in a terminal of the page's size and reports its exit", async () => {
    const sandbox = await host.start({ limits: DEFAULT_LIMITS, cols: 100, rows: 30, command: ["/bin/bash", "--noprofile", "--norc"] });
    const out = collect(sandbox);
    sandbox.write("stty size; tty; ls /proc/self/fd | tr '\\n' ' '; echo; exit 3\r");
    const exit = await new Promise((resolve) => sandbox.onExit(resolve));
    expect(exit).toEqual({ exitCode: 3, signal: null });
    await sandbox.destroy();
    expect(out.output).toContain("30 100\r\n");
    expect(out.output).toContain("/dev/console\r\n");
    // Inside: the terminal and ls's own directory descriptor, nothing of the host.
    expect(out.output).toContain("0 1 2 3 \r\n");
    expect(sessions()).toEqual([]);
  });

  it("tears a running sandbox down completely when the spawner is killed, and the next start works", async () => {
    const sandbox = await host.start({ limits: DEFAULT_LIMITS, cols: 80, rows: 24, command: ["/bin/bash", "--noprofile", "--norc"] });
    const out = collect(sandbox);
    sandbox.write("sleep 1000 & echo started-$!\r");
    await until(() => (/started-\d+/.test(out.output) ? true : undefined), "the background sleep");
    const spawnerPid = await until(() => {
      const status = fs.readFileSync(`/proc/${sandbox.launcherPid}/status`, "utf8");
      return Number(/PPid:\s+(\d+)/.exec(status)?.[1]) || undefined;
    }, "the launcher's parent");
    expect(fs.readFileSync(`/proc/${spawnerPid}/cmdline`, "utf8")).toContain("nslab-spawner");
    process.kill(spawnerPid, "SIGKILL");
    const exit = await new Promise((resolve) => sandbox.onExit(resolve));
    expect(exit).toEqual({ exitCode: null, signal: 9 });
    await sandbox.destroy();
    expect(sessions()).toEqual([]);
    expect(fs.existsSync(sandbox.sessionDir)).toBe(false);
    expect(await until(() => processGone(sandbox.hostPid), "the sandbox's init gone")).toBe(true);
    // A start during the back-off still gets its terminal, from node-pty: the launcher's parent
    // is this process.
    const parentOf = (pid: number) => Number(/PPid:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, "utf8"))?.[1]);
    const during = await host.start({ limits: DEFAULT_LIMITS, cols: 80, rows: 24, command: ["/bin/sh", "-c", "sleep 0.2; exit 4"] });
    expect(parentOf(during.launcherPid)).toBe(process.pid);
    expect(await new Promise((resolve) => during.onExit(resolve))).toEqual({ exitCode: 4, signal: null });
    await during.destroy();
    // After it, a new spawner is brought up, and the launcher is its child again.
    await until(() => (host.spawner?.ready ? true : undefined), "the back-off over");
    const next: Sandbox = await host.start({ limits: DEFAULT_LIMITS, cols: 80, rows: 24, command: ["/bin/sh", "-c", "sleep 0.2; exit 5"] });
    const newSpawner = parentOf(next.launcherPid);
    expect(newSpawner).not.toBe(process.pid);
    expect(newSpawner).not.toBe(spawnerPid);
    expect(fs.readFileSync(`/proc/${newSpawner}/cmdline`, "utf8")).toContain("nslab-spawner");
    expect(await new Promise((resolve) => next.onExit(resolve))).toEqual({ exitCode: 5, signal: null });
    await next.destroy();
    expect(sessions()).toEqual([]);
  });
});

// ---------------------------------------------------------------------------------------------
// What it saves: the event loop's time per start, node-pty vs the spawner, with a big heap.

describe("event loop time per terminal start", () => {
  it("is measured for node-pty and for the spawner with a heap of about 300 MB", async () => {
    // A server-sized heap: many small live objects, as a server holds; fork copies the page
    // tables of all of it.
    const ballast: Array<Array<{ n: number; s: string }>> = [];
    while (process.memoryUsage().heapUsed < 300 * 1024 * 1024) {
      ballast.push(Array.from({ length: 10_000 }, (_, n) => ({ n, s: `item-${n}-${ballast.length}` })));
    }
    const rounds = 40;
    const quantile = (values: number[], q: number) => [...values].sort((a, b) => a - b)[Math.min(values.length - 1, Math.floor(values.length * q))] ?? NaN;
    const round2 = (ms: number) => Math.round(ms * 100) / 100;

    /** Per start: the synchronous part of the call, and the longest the event loop was held
     *  (a 1 ms timer's lateness) from the call until the program's exit was known; the
     *  garbage collector's pauses in the same span apart, since they are not the spawn's. */
    const measure = async (start: () => Promise<{ wait: Promise<unknown>; close(): void }>) => {
      const sync: number[] = [];
      const held: number[] = [];
      let gcMs = 0;
      const gc = new PerformanceObserver((list) => {
        for (const entry of list.getEntries()) gcMs += entry.duration;
      });
      gc.observe({ entryTypes: ["gc"] });
      for (let i = 0; i < rounds; i++) {
        const delay = monitorEventLoopDelay({ resolution: 1 });
        delay.enable();
        // The histogram counts from its second tick on: let it tick before the start.
        await new Promise((resolve) => setTimeout(resolve, 5));
        const t0 = performance.now();
        const started = start();
        sync.push(performance.now() - t0);
        const { wait, close } = await started;
        await wait;
        close();
        delay.disable();
        held.push(delay.max / 1e6);
      }
      // gc entries are delivered after the pause, on a later turn of the loop.
      await new Promise((resolve) => setTimeout(resolve, 50));
      gc.disconnect();
      return {
        syncMs: { median: round2(quantile(sync, 0.5)), p90: round2(quantile(sync, 0.9)), max: round2(Math.max(...sync)) },
        loopHeldMs: { median: round2(quantile(held, 0.5)), p90: round2(quantile(held, 0.9)), max: round2(Math.max(...held)) },
        gcPausesMs: round2(gcMs),
      };
    };

    const idle = await measure(async () => {
      const wait = new Promise((resolve) => setTimeout(resolve, 2));
      return { wait, close: () => undefined };
    });
    const nodePty = await measure(async () => {
      const p = pty.spawn("/bin/true", [], { cols: 80, rows: 24, cwd: "/", env: ENV });
      return { wait: new Promise((resolve) => p.onExit(resolve)), close: () => undefined };
    });
    const spawner = new Spawner(HELPER);
    await until(() => (spawner.helperPid ? true : undefined), "the spawner");
    let started = 0;
    const viaSpawner = await measure(async () => {
      const r = await spawner.spawn({ file: "/bin/true", args: [], env: ENV, cols: 80, rows: 24 });
      if (!r.ok) throw new Error(r.message);
      started += 1;
      const terminal = r.terminal;
      return { wait: new Promise((resolve) => terminal.onExit(resolve)), close: () => terminal.close() };
    });
    spawner.close();
    const figures = {
      heapMiB: Math.round(process.memoryUsage().heapUsed / 2 ** 20),
      rssMiB: Math.round(process.memoryUsage().rss / 2 ** 20),
      rounds,
      idle,
      nodePty,
      viaSpawner,
    };
    ballast.length = 0;
    process.stdout.write(`terminal start, event loop time: ${JSON.stringify(figures)}\n`);
    expect(started).toBe(rounds);
    // The ballast was still alive at the end: the starts were measured with a big heap. (Other
    // garbage that counted towards the 300 MiB at the start may have been collected since.)
    expect(figures.heapMiB).toBeGreaterThanOrEqual(270);
  });
});
