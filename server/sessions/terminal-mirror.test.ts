// The server's copy of a terminal, against real headless xterm.js: a page that is sent the
// snapshot and then every later byte ends up with exactly the screen of a page that saw
// everything from the start.
import headless from "@xterm/headless";
import { describe, expect, it } from "vitest";

import { MIRROR_BACKLOG_LIMIT, TerminalMirror } from "./terminal-mirror";

/** A page's terminal: a fresh headless xterm fed bytes, read back as lines. */
async function render(size: { cols: number; rows: number }, chunks: Uint8Array[]): Promise<string[]> {
  const page = new headless.Terminal({ cols: size.cols, rows: size.rows, scrollback: 1000, allowProposedApi: true });
  for (const chunk of chunks) await new Promise<void>((resolve) => page.write(chunk, resolve));
  const buffer = page.buffer.active;
  const lines: string[] = [];
  for (let i = 0; i < buffer.length; i++) lines.push(buffer.getLine(i)?.translateToString(true) ?? "");
  while (lines.length > 0 && lines.at(-1) === "") lines.pop();
  page.dispose();
  return lines;
}

const bytes = (text: string) => Buffer.from(text, "utf8");

describe("the terminal mirror", () => {
  it("replays to a page what it saw before the snapshot, and the live bytes after it add nothing twice", async () => {
    const mirror = new TerminalMirror({ cols: 40, rows: 6 });
    const before = [bytes("\x1b[1;32mroot@lab\x1b[0m:~# echo before-reload\r\n"), bytes("before-reload\r\n"), bytes("root@lab:~# ")];
    const after = [bytes("echo after\r\n"), bytes("after\r\n"), bytes("root@lab:~# ")];
    for (const chunk of before) mirror.write(chunk);
    const snapshot = mirror.snapshot(); // asked for before the next bytes are written
    for (const chunk of after) mirror.write(chunk);
    const replay = (await snapshot).data;

    const page = await render(mirror.size, [replay, ...after]);
    expect(page).toEqual(await render(mirror.size, [...before, ...after]));
    expect(page).toEqual(["root@lab:~# echo before-reload", "before-reload", "root@lab:~# echo after", "after", "root@lab:~# "]);
    expect(await mirror.lines()).toEqual(page);
    mirror.dispose();
  });

  it("keeps a bounded scrollback, and the replay holds the latest of it", async () => {
    const mirror = new TerminalMirror({ cols: 30, rows: 5 }, 50);
    for (let i = 0; i < 200; i++) mirror.write(bytes(`line ${i}\r\n`));
    const page = await render(mirror.size, [(await mirror.snapshot()).data]);
    expect(page.length).toBeLessThanOrEqual(55);
    expect(page).toContain("line 199");
    expect(page).not.toContain("line 100");
    mirror.dispose();
  });

  it("replays the modes a program set, so the page's keys and pastes behave as before", async () => {
    const mirror = new TerminalMirror({ cols: 40, rows: 5 });
    mirror.write(bytes("\x1b[?2004h\x1b[?1hprompt$ "));
    const replay = (await mirror.snapshot()).data.toString("utf8");
    expect(replay).toContain("\x1b[?2004h"); // bracketed paste
    expect(replay).toContain("\x1b[?1h"); // application cursor keys
    expect(replay).toContain("prompt$");
    mirror.dispose();
  });

  it("follows a resize, so a page that attaches after it draws at the new size", async () => {
    const mirror = new TerminalMirror({ cols: 80, rows: 24 });
    mirror.write(bytes("hello\r\n"));
    mirror.resize({ cols: 132, rows: 40 });
    expect(mirror.size).toEqual({ cols: 132, rows: 40 });
    expect(await mirror.lines()).toEqual(["hello"]);
    mirror.dispose();
  });

  it("cuts the oldest scrollback from a replay that would weigh more than its bound, and keeps the screen", async () => {
    const mirror = new TerminalMirror({ cols: 80, rows: 10 });
    for (let i = 0; i < 1000; i++) mirror.write(bytes(`\x1b[3${i % 8};1mline ${i} ${"#".repeat(60)}\x1b[0m\r\n`));
    const whole = (await mirror.snapshot(10 * 1024 * 1024)).data;
    const cut = (await mirror.snapshot(40 * 1024)).data;
    expect(whole.length).toBeGreaterThan(40 * 1024);
    expect(cut.length).toBeLessThanOrEqual(40 * 1024);
    const page = await render(mirror.size, [cut]);
    expect(page.some((line) => line.startsWith("line 999 "))).toBe(true);
    expect(page.some((line) => line.startsWith("line 100 "))).toBe(false);
    mirror.dispose();
  });

  it("drops a flood it cannot keep up with, then starts again with a line that says so", async () => {
    const mirror = new TerminalMirror({ cols: 80, rows: 24 });
    const flood = Buffer.alloc(256 * 1024, 0x61);
    for (let written = 0; written <= MIRROR_BACKLOG_LIMIT; written += flood.length) mirror.write(flood);
    expect(mirror.overflows).toBe(1);
    await mirror.snapshot(); // everything posted is parsed by now
    mirror.write(bytes("after-the-flood\r\n"));
    const page = await render(mirror.size, [(await mirror.snapshot()).data]);
    expect(page[0]).toBe("(nslab: the output before this came too fast to keep for a reconnect)");
    expect(page[1]).toBe("after-the-flood");
    mirror.dispose();
  });

  it("applies a resize between the bytes it came between", async () => {
    const mirror = new TerminalMirror({ cols: 10, rows: 3 });
    // Column 15 of a 10-column terminal is its last column; only after the resize is it 15.
    mirror.write(bytes("\x1b[1;15HX"));
    mirror.resize({ cols: 20, rows: 3 });
    mirror.write(bytes("\x1b[2;15HY"));
    const lines = await mirror.lines();
    expect(lines[0]?.indexOf("X")).toBe(9);
    expect(lines[1]?.indexOf("Y")).toBe(14);
    expect((await mirror.snapshot()).size).toEqual({ cols: 20, rows: 3 });
    mirror.dispose();
  });

  it("makes a snapshot once while nothing is written, and again after a write", async () => {
    const mirror = new TerminalMirror({ cols: 40, rows: 5 });
    mirror.write(bytes("prompt$ "));
    const first = await mirror.snapshot();
    expect(mirror.snapshotIsCached).toBe(true);
    expect(await mirror.snapshot()).toBe(first);
    mirror.write(bytes("echo hi"));
    expect(mirror.snapshotIsCached).toBe(false);
    expect((await mirror.snapshot()).data.toString("utf8")).toContain("echo hi");
    mirror.dispose();
  });

  it("replaces a screen too large to send with a line that says so", async () => {
    const mirror = new TerminalMirror({ cols: 200, rows: 50 });
    // A colour of its own for every cell, so nothing of the screen compresses.
    for (let row = 0; row < 50; row++) mirror.write(bytes(`${Array.from({ length: 199 }, (_, col) => `\x1b[38;2;${col};${row};7m#`).join("")}\r\n`));
    const replay = (await mirror.snapshot(10 * 1024)).data.toString("utf8");
    expect(replay).toContain("this screen is too large to restore");
    mirror.dispose();
  });
});
