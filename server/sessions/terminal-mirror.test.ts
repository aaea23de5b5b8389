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
    const replay = await snapshot;

    const page = await render(mirror.size, [replay, ...after]);
    expect(page).toEqual(await render(mirror.size, [...before, ...after]));
    expect(page).toEqual(["root@lab:~# echo before-reload", "before-reload", "root@lab:~# echo after", "after", "root@lab:~# "]);
    expect(await mirror.lines()).toEqual(page);
    mirror.dispose();
  });

  it("keeps a bounded scrollback, and the replay holds the latest of it", async () => {
    const mirror = new TerminalMirror({ cols: 30, rows: 5 }, 50);
    for (let i = 0; i < 200; i++) mirror.write(bytes(`line ${i}\r\n`));
    const page = await render(mirror.size, [await mirror.snapshot()]);
    expect(page.length).toBeLessThanOrEqual(55);
    expect(page).toContain("line 199");
    expect(page).not.toContain("line 100");
    mirror.dispose();
  });

  it("replays the modes a program set, so the page's keys and pastes behave as before", async () => {
    const mirror = new TerminalMirror({ cols: 40, rows: 5 });
    mirror.write(bytes("\x1b[?2004h\x1b[?1hprompt$ "));
    const replay = (await mirror.snapshot()).toString("utf8");
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
    const whole = await mirror.snapshot(10 * 1024 * 1024);
    const cut = await mirror.snapshot(40 * 1024);
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
    const page = await render(mirror.size, [await mirror.snapshot()]);
    expect(page[0]).toBe("(nslab: the output before this came too fast to keep for a reconnect)");
    expect(page[1]).toBe("after-the-flood");
    mirror.dispose();
  });
});
