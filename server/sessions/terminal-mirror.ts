// The server's own copy of a session's terminal: every byte the pty prints also goes into a
// headless xterm.js of the same size, so a page that attaches later — a reload, a reconnect, a
// watcher — is first sent the screen and scrollback as they are, then the live output. The
// copy is serialized (@xterm/addon-serialize) into the escape sequences that redraw it,
// modes included (bracketed paste, application cursor keys, the alternate screen).
import headless from "@xterm/headless";
import type { Terminal as HeadlessTerminal } from "@xterm/headless";
import { SerializeAddon } from "@xterm/addon-serialize";

import type { TerminalSize } from "../../common/protocol";

/** Lines of scrollback the mirror keeps and replays (the default). */
export const MIRROR_SCROLLBACK_LINES = 1000;

/** Bytes written to the mirror and not yet parsed, past which the session pauses the shell:
 *  xterm parses in slices between other work, and a flood must not queue without bound. */
export const MIRROR_BACKLOG_HIGH = 512 * 1024;
export const MIRROR_BACKLOG_LOW = 128 * 1024;

export class TerminalMirror {
  private readonly terminal: HeadlessTerminal;
  private readonly serializer = new SerializeAddon();
  private backlog = 0;
  private behind = false;
  private disposed = false;

  /** `onBacklog(true)` when parsing falls MIRROR_BACKLOG_HIGH behind, `(false)` once it is
   *  back under MIRROR_BACKLOG_LOW. */
  constructor(
    size: TerminalSize,
    private readonly onBacklog: (behind: boolean) => void = () => undefined,
    readonly scrollback = MIRROR_SCROLLBACK_LINES,
  ) {
    this.terminal = new headless.Terminal({ cols: size.cols, rows: size.rows, scrollback, allowProposedApi: true });
    // The addon's typings name the browser's Terminal; the headless one has the same API.
    this.terminal.loadAddon(this.serializer as unknown as Parameters<HeadlessTerminal["loadAddon"]>[0]);
  }

  get size(): TerminalSize {
    return { cols: this.terminal.cols, rows: this.terminal.rows };
  }

  /** Bytes written and not yet parsed. */
  get backlogBytes(): number {
    return this.backlog;
  }

  write(chunk: Uint8Array): void {
    if (this.disposed || chunk.length === 0) return;
    this.backlog += chunk.length;
    this.terminal.write(chunk, () => {
      this.backlog -= chunk.length;
      if (this.behind && this.backlog <= MIRROR_BACKLOG_LOW) {
        this.behind = false;
        this.onBacklog(false);
      }
    });
    if (!this.behind && this.backlog > MIRROR_BACKLOG_HIGH) {
      this.behind = true;
      this.onBacklog(true);
    }
  }

  resize(size: TerminalSize): void {
    if (this.disposed) return;
    this.terminal.resize(size.cols, size.rows);
  }

  /**
   * The screen and scrollback after every byte written so far, as bytes that redraw them in a
   * reset terminal of the same size. xterm parses writes in order and runs a write's callback
   * before it parses the next one, so the snapshot holds exactly what was written before this
   * call: a caller that forwards every later chunk after it loses nothing and doubles nothing.
   */
  snapshot(): Promise<Buffer> {
    if (this.disposed) return Promise.resolve(Buffer.alloc(0));
    return new Promise((resolve) => {
      this.terminal.write(new Uint8Array(0), () => {
        resolve(Buffer.from(this.serializer.serialize({ scrollback: this.scrollback }), "utf8"));
      });
    });
  }

  /** The text on screen and in the scrollback once every byte written so far is parsed, one
   *  string per line, trailing blanks trimmed. */
  lines(): Promise<string[]> {
    if (this.disposed) return Promise.resolve([]);
    return new Promise((resolve) => {
      this.terminal.write(new Uint8Array(0), () => {
        const buffer = this.terminal.buffer.active;
        const lines: string[] = [];
        for (let i = 0; i < buffer.length; i++) lines.push(buffer.getLine(i)?.translateToString(true) ?? "");
        while (lines.length > 0 && lines.at(-1) === "") lines.pop();
        resolve(lines);
      });
    });
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.terminal.dispose();
  }
}
