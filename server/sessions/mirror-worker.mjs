// The server's copies of every session's terminal, in a thread of their own: parsing what the
// shells print and serializing a screen for a page that attaches both take real time (a
// colourful screen with 1000 lines of scrollback serializes in 50-300 ms), and none of it may
// hold up the thread that carries every learner's keystrokes. server/sessions/terminal-mirror.ts
// is the other side of this worker: it posts each terminal's bytes in order, and asks for
// resizes and snapshots in the same stream. Every operation on a terminal runs in the callback
// of a write, which xterm runs once every earlier write is parsed and before any later one, so
// a resize lands between the bytes it came between, and a snapshot holds exactly the bytes
// posted before it.
//
// Plain JavaScript, so that it runs as it is in every way the server is started (tsx, the
// test runner, compiled) without a loader of its own in the thread.
//
// Messages in:  {op: "open", id, cols, rows, scrollback}, {op: "write", id, data},
//               {op: "resize", id, cols, rows}, {op: "snapshot", id, req, maxBytes, maxCells},
//               {op: "lines", id, req, tail?, width?}, {op: "close", id}
// Messages out: {op: "parsed", counts: [[id, bytes], …]},
//               {op: "snapshot", req, data, cols, rows}, {op: "lines", req, lines}
import { parentPort } from "node:worker_threads";

import { SerializeAddon } from "@xterm/addon-serialize";
import headless from "@xterm/headless";

if (!parentPort) throw new Error("mirror-worker.mjs runs as a worker thread");
const port = parentPort;

/** @type {Map<number, {terminal: InstanceType<typeof headless.Terminal>, serializer: SerializeAddon, scrollback: number}>} */
const terminals = new Map();
const utf8 = new TextEncoder();
const NOTHING = new Uint8Array(0);

/** What a page draws when the screen is too big to send: a clear screen that says so. */
const TOO_BIG = "\x1bc\x1b[2m(nslab: this screen is too large to restore; what follows is live)\x1b[0m\r\n";

/** Bytes parsed since the last report, by terminal: sent once per turn, not once per chunk. */
/** @type {Map<number, number>} */
const parsed = new Map();
let reportScheduled = false;

function flushParsed() {
  reportScheduled = false;
  if (parsed.size === 0) return;
  port.postMessage({ op: "parsed", counts: [...parsed] });
  parsed.clear();
}

function reportParsed(id, bytes) {
  parsed.set(id, (parsed.get(id) ?? 0) + bytes);
  if (reportScheduled) return;
  reportScheduled = true;
  setImmediate(flushParsed);
}

/** Run `action` once everything written to `terminal` so far is parsed. */
function afterWrites(terminal, action) {
  terminal.write(NOTHING, action);
}

/**
 * The screen, scrollback and modes as bytes that redraw them. The scrollback is cut so that
 * no more than `maxCells` cells are serialized (the cost grows with them) and the result fits
 * `maxBytes`; a screen that does not fit on its own is sent as a notice instead.
 */
function serialize(entry, maxBytes, maxCells) {
  const { terminal } = entry;
  let lines = Math.max(0, Math.min(entry.scrollback, Math.floor(maxCells / terminal.cols) - terminal.rows));
  for (let attempt = 0; attempt < 4; attempt++) {
    // A buffer of its own (not a slice of Node's pool): it is transferred to the main thread.
    const data = utf8.encode(entry.serializer.serialize({ scrollback: lines }));
    if (data.byteLength <= maxBytes) return data;
    if (lines === 0) break;
    // Bytes grow about linearly with lines: aim a little under the bound.
    lines = Math.max(0, Math.floor((lines * maxBytes * 0.9) / data.byteLength) - terminal.rows);
  }
  return utf8.encode(TOO_BIG);
}

/** The text of the terminal, trailing blank lines dropped. With `tail`, only the last `tail`
 *  lines, each cut to `width` characters: a dashboard card's few lines cost a few lines of
 *  work, not the whole scrollback's. */
function textLines(terminal, tail, width) {
  const buffer = terminal.buffer.active;
  let end = buffer.length;
  while (end > 0 && (buffer.getLine(end - 1)?.translateToString(true) ?? "") === "") end--;
  const start = tail === undefined ? 0 : Math.max(0, end - tail);
  const lines = [];
  for (let i = start; i < end; i++) {
    const text = buffer.getLine(i)?.translateToString(true) ?? "";
    lines.push(width === undefined ? text : text.slice(0, width));
  }
  return lines;
}

port.on("message", (message) => {
  const entry = terminals.get(message.id);
  switch (message.op) {
    case "open": {
      const terminal = new headless.Terminal({ cols: message.cols, rows: message.rows, scrollback: message.scrollback, allowProposedApi: true });
      const serializer = new SerializeAddon();
      terminal.loadAddon(serializer);
      terminals.set(message.id, { terminal, serializer, scrollback: message.scrollback });
      return;
    }
    case "write": {
      const bytes = message.data.byteLength;
      if (!entry) {
        reportParsed(message.id, bytes);
        return;
      }
      entry.terminal.write(message.data, () => reportParsed(message.id, bytes));
      return;
    }
    case "resize":
      if (entry) afterWrites(entry.terminal, () => entry.terminal.resize(message.cols, message.rows));
      return;
    case "snapshot":
      if (!entry) {
        port.postMessage({ op: "snapshot", req: message.req, data: NOTHING, cols: 0, rows: 0 });
        return;
      }
      afterWrites(entry.terminal, () => {
        const data = serialize(entry, message.maxBytes, message.maxCells);
        // What was parsed before the snapshot is reported before it.
        flushParsed();
        port.postMessage({ op: "snapshot", req: message.req, data, cols: entry.terminal.cols, rows: entry.terminal.rows }, [data.buffer]);
      });
      return;
    case "lines":
      if (!entry) {
        port.postMessage({ op: "lines", req: message.req, lines: [] });
        return;
      }
      afterWrites(entry.terminal, () => {
        flushParsed();
        port.postMessage({ op: "lines", req: message.req, lines: textLines(entry.terminal, message.tail, message.width) });
      });
      return;
    case "close":
      entry?.terminal.dispose();
      terminals.delete(message.id);
      parsed.delete(message.id);
      return;
  }
});
