// A minimal lab client for integration tests: speaks the real protocol over a real socket,
// keeps every message and all terminal output, and waits by polling for conditions.
import WebSocket from "ws";

import { PROTOCOL_VERSION, type ServerMessage, parseServerMessage } from "../../common/protocol";

export type SessionReady = Extract<ServerMessage, { type: "session.ready" }>;

/** The cookie header a browser of this learner sends. */
export function learnerCookie(learnerId: string): Record<string, string> {
  return { cookie: `nslab_learner=${learnerId}` };
}

export interface LabClientOptions {
  /** Acknowledge output as it arrives, as a page does once it has drawn it (default true). */
  ack?: boolean;
}

export class LabClient {
  readonly messages: ServerMessage[] = [];
  output = "";
  /** Bytes of terminal output received. */
  outputBytes = 0;
  closeCode: number | null = null;
  readonly ws: WebSocket;

  constructor(url: string, headers: Record<string, string> = {}, options: LabClientOptions = {}) {
    this.ws = new WebSocket(url, { headers });
    const ack = options.ack ?? true;
    this.ws.on("message", (data, isBinary) => {
      if (isBinary) {
        const chunk = data as Buffer;
        this.output += chunk.toString("utf8");
        this.outputBytes += chunk.length;
        if (ack && this.ws.readyState === WebSocket.OPEN) this.sendJson({ type: "pty.ack", bytes: chunk.length });
        return;
      }
      const parsed = parseServerMessage((data as Buffer).toString("utf8"));
      if (!parsed.ok) throw new Error(`server sent an invalid frame: ${parsed.message}`);
      this.messages.push(parsed.message);
    });
    this.ws.on("close", (code) => {
      this.closeCode = code;
    });
    this.ws.on("error", () => {
      // surfaced through closeCode / opened()
    });
  }

  opened(): Promise<void> {
    return new Promise((resolve, reject) => {
      if (this.ws.readyState === WebSocket.OPEN) return resolve();
      this.ws.once("open", () => resolve());
      this.ws.once("error", reject);
    });
  }

  async start(cols = 80, rows = 24, lesson = "containers-vs-vms"): Promise<SessionReady> {
    await this.opened();
    const from = this.messages.length;
    this.sendJson({ type: "session.start", version: PROTOCOL_VERSION, lesson, size: { cols, rows } });
    return this.ready(from);
  }

  /** Come back to a session as its owner, with the token of an earlier session.ready. */
  async resume(session: { sessionId: string; resumeToken?: string }, cols = 80, rows = 24): Promise<SessionReady> {
    await this.opened();
    const from = this.messages.length;
    this.sendJson({ type: "session.resume", version: PROTOCOL_VERSION, sessionId: session.sessionId, token: session.resumeToken, size: { cols, rows } });
    return this.ready(from);
  }

  /** Watch a session, read-only. */
  async watch(session: { sessionId: string; resumeToken?: string }): Promise<SessionReady> {
    await this.opened();
    const from = this.messages.length;
    this.sendJson({ type: "session.watch", version: PROTOCOL_VERSION, sessionId: session.sessionId, token: session.resumeToken });
    return this.ready(from);
  }

  /** The instructor's look at a class member's sandbox (needs the instructor's cookie). */
  async observe(classId: string, memberId: string): Promise<SessionReady> {
    await this.opened();
    const from = this.messages.length;
    this.sendJson({ type: "session.observe", version: PROTOCOL_VERSION, classId, memberId });
    return this.ready(from);
  }

  /** The session.ready that answers the request sent when `from` messages had come; throws
   *  with what came instead (an error, a close). */
  async ready(from = 0): Promise<SessionReady> {
    const answers = () => this.messages.slice(from);
    await this.waitFor(() => answers().some((m) => m.type === "session.ready" || m.type === "error") || this.closeCode !== null, "session.ready");
    const ready = answers().find((m): m is SessionReady => m.type === "session.ready");
    if (!ready) throw new Error(`no session.ready: ${JSON.stringify(answers())} close ${this.closeCode}`);
    return ready;
  }

  sendJson(value: unknown): void {
    this.ws.send(JSON.stringify(value));
  }

  type(text: string): void {
    this.ws.send(Buffer.from(text, "utf8"), { binary: true });
  }

  /** Run a command and return what it printed between two unique markers. */
  async run(command: string, timeoutMs = 20_000): Promise<string> {
    const tag = Math.random().toString(36).slice(2, 8);
    const begin = `__B${tag}__`;
    const end = `__E${tag}__`;
    const from = this.output.length;
    // The markers are printed by printf so the echoed command line never matches them.
    this.type(`printf '%s\\n' ${begin.slice(0, 4)}''${begin.slice(4)}; ${command}; printf '%s\\n' ${end.slice(0, 4)}''${end.slice(4)}\r`);
    await this.waitFor(() => this.output.indexOf(`${end}\r\n`, from) >= 0, `output of ${command}`, timeoutMs);
    const text = this.output.slice(from);
    const start = text.indexOf(`${begin}\r\n`) + begin.length + 2;
    return text.slice(start, text.indexOf(`${end}\r\n`, start)).replace(/\r\n/g, "\n").trimEnd();
  }

  errors(): Array<Extract<ServerMessage, { type: "error" }>> {
    return this.messages.filter((m): m is Extract<ServerMessage, { type: "error" }> => m.type === "error");
  }

  async waitFor(condition: () => boolean, what: string, timeoutMs = 20_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!condition()) {
      if (Date.now() > deadline) {
        throw new Error(`timed out waiting for ${what}; output so far: ${JSON.stringify(this.output.slice(-500))}`);
      }
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  async closed(): Promise<number> {
    await this.waitFor(() => this.closeCode !== null, "socket close");
    return this.closeCode ?? 0;
  }

  close(): void {
    this.ws.close();
  }
}
