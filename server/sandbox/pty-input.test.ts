// The bounded terminal writer writes through a descriptor of its own: input queued while the
// program reads nothing never lands in a file that took the terminal's old number, and its
// copy is closed when it stops. A FIFO stands in for the terminal: like a pty, it answers
// EAGAIN when full.
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

import { afterEach, beforeEach, describe, expect, it } from "vitest";

import { waitUntil } from "../testing/traces";

import { PtyInput } from "./pty-input";

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "nslab-pty-input-"));
});
afterEach(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

/** This process's descriptors open on `file`. */
function descriptorsOn(file: string): number[] {
  const found: number[] = [];
  for (const fd of fs.readdirSync("/proc/self/fd")) {
    try {
      if (fs.readlinkSync(`/proc/self/fd/${fd}`) === file) found.push(Number(fd));
    } catch {
      // the directory's own descriptor, closed by now
    }
  }
  return found;
}

/** A FIFO whose reader reads nothing, filled until writes answer EAGAIN. */
function fullFifo(): { fifo: string; reader: number; terminalFd: number } {
  const fifo = path.join(dir, "terminal");
  execFileSync("mkfifo", [fifo]);
  const reader = fs.openSync(fifo, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
  const terminalFd = fs.openSync(fifo, fs.constants.O_WRONLY | fs.constants.O_NONBLOCK);
  const block = Buffer.alloc(4096, "x");
  for (;;) {
    try {
      fs.writeSync(terminalFd, block);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "EAGAIN") return { fifo, reader, terminalFd };
      throw err;
    }
  }
}

describe("PtyInput", () => {
  it("keeps a flood of one-byte keystrokes in a few joined pieces, up to its bound, and delivers them in order", async () => {
    const { reader, terminalFd } = fullFifo();
    const input = new PtyInput(terminalFd, 64 * 1024);
    let accepted = 0;
    while (input.write(Buffer.from([0x61 + (accepted % 26)]))) accepted++;
    expect(accepted).toBe(64 * 1024);
    // One piece per key would be 65536 Buffers; joined, the queue holds 4 KiB pieces.
    expect(input.pieces).toBeLessThanOrEqual(64 * 1024 / 4096 + 2);
    // The program starts reading: what was filled first, then every key in the order typed.
    const drained: Buffer[] = [];
    const readSome = () => {
      const chunk = Buffer.alloc(65536);
      try {
        const n = fs.readSync(reader, chunk);
        if (n > 0) drained.push(chunk.subarray(0, n));
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "EAGAIN") throw err;
      }
    };
    await waitUntil(() => {
      readSome();
      return input.pending === 0;
    }, "the queue drained");
    for (let i = 0; i < 20; i++) readSome();
    const typed = Buffer.concat(drained).toString("latin1").replace(/^x+/, "");
    expect(typed.length).toBe(accepted);
    expect([...typed].every((ch, i) => ch.charCodeAt(0) === 0x61 + (i % 26))).toBe(true);
    input.stop();
    fs.closeSync(terminalFd);
    fs.closeSync(reader);
  });

  it("never writes queued input to a file that reused the terminal's descriptor number, and closes its own copy", async () => {
    // The program reads nothing: the buffer is full, and writes answer EAGAIN.
    const { fifo, reader, terminalFd } = fullFifo();
    const input = new PtyInput(terminalFd);
    const copies = descriptorsOn(fifo).filter((fd) => fd !== terminalFd && fd !== reader);
    expect(copies).toHaveLength(1);
    expect(input.write(Buffer.from("secret\r"))).toBe(true);
    // Whoever owns the terminal's descriptor closes it (node-pty may, before its exit event);
    // the next file opened takes the lowest free number, which is that one.
    fs.closeSync(terminalFd);
    const other = path.join(dir, "another-file");
    const otherFd = fs.openSync(other, "w");
    try {
      expect(otherFd).toBe(terminalFd);
      // The program starts reading; the queued input goes out on the next retry.
      const drained = Buffer.alloc(1 << 20);
      let received = "";
      await waitUntil(() => {
        try {
          const n = fs.readSync(reader, drained);
          received += drained.subarray(0, n).toString("latin1");
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== "EAGAIN") throw err;
        }
        return input.pending === 0 && received.endsWith("secret\r");
      }, "the queued input to reach the terminal");
      expect(fs.readFileSync(other, "utf8")).toBe("");
    } finally {
      input.stop();
      fs.closeSync(otherFd);
      fs.closeSync(reader);
    }
    // Its copy is closed once it stops (no write was in flight).
    expect(descriptorsOn(fifo)).toEqual([]);
    input.stop();
  });

  it("closes its copy only once a write in flight has returned", async () => {
    const file = path.join(dir, "terminal-as-file");
    const fd = fs.openSync(file, "w");
    const input = new PtyInput(fd);
    fs.closeSync(fd);
    expect(descriptorsOn(file)).toHaveLength(1);
    expect(input.write(Buffer.from("typed"))).toBe(true);
    // Stopped while the write is on the thread pool: the descriptor it uses stays open for it.
    input.stop();
    expect(descriptorsOn(file)).toHaveLength(1);
    await waitUntil(() => descriptorsOn(file).length === 0, "the copy to close after the write returned");
    expect(fs.readFileSync(file, "utf8")).toBe("typed");
  });
});
