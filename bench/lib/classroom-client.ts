// The classroom's HTTP side as the instructor's browser and the learners' join pages use it
// (server/http/classes-api.ts), for the benchmarks: the instructor's login, a class made, learners
// joined by code, and the dashboard's one event stream read as an EventSource reads it. Every
// answer is parsed with the shared schemas (common/classroom.ts), never cast.
//
// Each request goes on a connection of its own, from the local address it is given: the server
// limits joins per client address (20 at once, then one every 2 s), as it should for a room
// behind one address; a bench that plays 200 learners on 200 devices gives each its own
// loopback address (any of 127.0.0.0/8 reaches a server on 127.0.0.1).
import http from "node:http";
import { performance } from "node:perf_hooks";

import type { z } from "zod";

import { ApiError, ClassDetail, DashboardEvent, type ClassCreateRequest, INSTRUCTOR_COOKIE, JoinResult, type LearnerCard } from "../../common/classroom";

export interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  text: string;
}

export interface RequestOptions {
  /** The Cookie header. */
  cookie?: string;
  /** A JSON body. */
  body?: unknown;
  /** The address the request leaves from (127.x.y.z): the client address the server sees. */
  localAddress?: string;
  timeoutMs?: number;
}

/** One request on a connection of its own; resolves with whatever status it got. */
export function request(base: string, method: string, pathname: string, options: RequestOptions = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const body = options.body === undefined ? undefined : JSON.stringify(options.body);
    const req = http.request(
      `${base}${pathname}`,
      {
        method,
        agent: false,
        localAddress: options.localAddress,
        timeout: options.timeoutMs ?? 30_000,
        headers: {
          ...(options.cookie ? { cookie: options.cookie } : {}),
          ...(body === undefined ? {} : { "content-type": "application/json", "content-length": Buffer.byteLength(body) }),
        },
      },
      (res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (chunk: string) => (text += chunk));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text }));
        res.on("error", reject);
      },
    );
    req.on("timeout", () => req.destroy(new Error(`${method} ${pathname} timed out`)));
    req.on("error", reject);
    req.end(body);
  });
}

/** The API's sentence for a refusal, or the start of the body when it is not one. */
function refusal(answer: Answer): string {
  try {
    const parsed = ApiError.safeParse(JSON.parse(answer.text));
    if (parsed.success) return parsed.data.error;
  } catch {
    // not JSON
  }
  return answer.text.slice(0, 200);
}

/** POST /teach/login; resolves with the instructor's cookie (`nslab_teach=…`). */
export async function instructorLogin(base: string, secret: string): Promise<string> {
  const answer = await request(base, "POST", "/teach/login", { body: { secret } });
  if (answer.status !== 200) throw new Error(`instructor login answered ${answer.status}: ${refusal(answer)}`);
  const setCookie = answer.headers["set-cookie"]?.find((c) => c.startsWith(`${INSTRUCTOR_COOKIE}=`));
  const cookie = setCookie?.split(";")[0];
  if (!cookie) throw new Error("instructor login set no cookie");
  return cookie;
}

export async function createClass(base: string, instructorCookie: string, settings: ClassCreateRequest): Promise<ClassDetail> {
  const answer = await request(base, "POST", "/api/classes", { cookie: instructorCookie, body: settings });
  if (answer.status !== 201) throw new Error(`creating the class answered ${answer.status}: ${refusal(answer)}`);
  return ClassDetail.parse(JSON.parse(answer.text));
}

export async function classDetail(base: string, instructorCookie: string, classId: string): Promise<ClassDetail> {
  const answer = await request(base, "GET", `/api/classes/${classId}`, { cookie: instructorCookie });
  if (answer.status !== 200) throw new Error(`the class's detail answered ${answer.status}: ${refusal(answer)}`);
  return ClassDetail.parse(JSON.parse(answer.text));
}

/** POST /api/join as the learner whose cookie is `learnerId`, from `localAddress`. */
export async function joinClass(base: string, learnerId: string, code: string, name: string, localAddress?: string): Promise<z.infer<typeof JoinResult>> {
  const answer = await request(base, "POST", "/api/join", { cookie: `nslab_learner=${learnerId}`, body: { code, name }, localAddress });
  if (answer.status !== 200) throw new Error(`${name}'s join answered ${answer.status}: ${refusal(answer)}`);
  return JoinResult.parse(JSON.parse(answer.text));
}

/** The n-th distinct loopback address after 127.0.0.1 (n = 0: 127.0.0.2, …, 127.0.0.254,
 *  127.0.1.1, …), for up to 65 000 clients. */
export function loopbackAddress(n: number): string {
  const k = n + 1;
  return `127.0.${Math.floor(k / 254)}.${(k % 254) + 1}`;
}

/** What one `cards` event carried, stamped when its last byte was read. */
export interface CardsEvent {
  receivedAt: number;
  cards: LearnerCard[];
  bytes: number;
}

/**
 * The dashboard's stream (GET /api/classes/<id>/events), read as a browser's EventSource reads
 * it: blocks separated by a blank line, `data:` lines joined, an `event: bye` as the end. Each
 * `cards` event is handed to `onCards` stamped with performance.now() at the moment the chunk
 * that completed it arrived, before it is parsed.
 */
export class DashboardStream {
  detail: ClassDetail | null = null;
  cardsEvents = 0;
  /** Bytes of the stream read. */
  bytes = 0;
  bye: string | null = null;
  /** Why the stream ended other than by close(), if it did. */
  failure: string | null = null;
  private readonly req: http.ClientRequest;
  private closedByUs = false;
  private ended = false;

  constructor(
    base: string,
    classId: string,
    instructorCookie: string,
    private readonly onCards: (event: CardsEvent) => void,
  ) {
    this.req = http.get(`${base}/api/classes/${classId}/events`, { agent: false, headers: { cookie: instructorCookie, accept: "text/event-stream" } }, (res) => {
      if (res.statusCode !== 200) {
        this.failure = `the stream answered ${res.statusCode}`;
        res.resume();
        return;
      }
      res.setEncoding("utf8");
      let buffer = "";
      res.on("data", (chunk: string) => {
        const receivedAt = performance.now();
        this.bytes += Buffer.byteLength(chunk);
        buffer += chunk;
        let end: number;
        while ((end = buffer.indexOf("\n\n")) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          this.onBlock(block, receivedAt);
        }
      });
      res.on("end", () => {
        this.ended = true;
        if (!this.closedByUs && this.failure === null) this.failure = this.bye ?? "the server ended the stream";
      });
      res.on("error", () => {
        // An abort by close(), or the failure below.
      });
    });
    this.req.on("error", (err) => {
      if (!this.closedByUs) this.failure = err.message;
    });
  }

  private onBlock(block: string, receivedAt: number): void {
    const data = block
      .split("\n")
      .filter((l) => l.startsWith("data: "))
      .map((l) => l.slice(6))
      .join("\n");
    if (!data) return; // the retry line, a keep-alive comment
    if (block.startsWith("event: bye")) {
      const reason: unknown = JSON.parse(data);
      this.bye = typeof reason === "object" && reason !== null ? String((reason as { reason?: unknown }).reason) : String(reason);
      return;
    }
    const event = DashboardEvent.parse(JSON.parse(data));
    if (event.type === "detail") this.detail = event.detail;
    else if (event.type === "cards") {
      this.cardsEvents++;
      this.onCards({ receivedAt, cards: event.cards, bytes: data.length });
    }
  }

  get open(): boolean {
    return !this.ended && this.failure === null;
  }

  close(): void {
    this.closedByUs = true;
    this.req.destroy();
  }
}
