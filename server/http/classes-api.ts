// The classroom over HTTP: the instructor's login (/teach/login, /teach/logout), the
// dashboard's JSON API and event stream (/api/classes…), the learners' join (/api/join, and a
// plain form post to /join), and the gate in front of the dashboard's pages (/teach/classes/…).
//
// Every instructor route is authorised here, on the server, by the instructor's cookie: a page
// that hides a button protects nothing. Requests that change something, and every instructor
// route, must come from this site (Origin and Sec-Fetch-Site), so another site can neither act
// with the instructor's cookie nor read the class. Bodies are bounded, every field is parsed
// with the shared schemas, and every refusal is a sentence that says what to do.
import type http from "node:http";

import { z } from "zod";

import {
  ApiError,
  BroadcastRequest,
  ClassCreateRequest,
  ClassId,
  type DashboardEvent,
  JoinCode,
  JoinRequest,
  type JoinRefusal,
  LimitsChangeRequest,
  MemberId,
  normalizeJoinCode,
} from "../../common/classroom";
import { type AttemptLimiter, type InstructorSecret, type InstructorSessions, LoginBusyError, clientKey } from "../classroom/instructor-auth";
import { ClassroomError, type Classrooms } from "../classroom/classrooms";
import { log } from "../log";

/** The instructor's login as JSON (the form posts the same field). */
const LoginRequest = z.object({ secret: z.string().max(1024, "the instructor secret is at most 1024 characters") });

/** The largest request body the classroom takes (a class form, a broadcast). */
export const MAX_BODY_BYTES = 64 * 1024;
/** A comment line on every dashboard stream this often: proxies keep it open, and a logged-out
 *  instructor's stream is found and closed. */
const STREAM_HEARTBEAT_MS = 15_000;

export interface ClassesApiOptions {
  classrooms: Classrooms;
  secret: InstructorSecret;
  sessions: InstructorSessions;
  /** Wrong instructor secrets, per client address. */
  loginLimiter: AttemptLimiter;
  /** Join attempts, per client address (codes must not be guessed at speed). */
  joinLimiter: AttemptLimiter;
  /** Whether a browser Origin is one of the lab's public or allowed origins (lab-server.ts). */
  originAllowed(origin: string): boolean;
  /** Whether the cookies set in answer to this request must be Secure: it came over HTTPS,
   *  or the lab is served only over HTTPS (lab-server.ts). */
  secureCookies(req: http.IncomingMessage): boolean;
  /** The request's learner, issuing the cookie to a first-time visitor (lab-server.ts). */
  learnerFor(req: http.IncomingMessage, res: http.ServerResponse): string;
  /** The client's address as the limiters count it: the socket's peer, or what a trusted
   *  reverse proxy forwarded for (lab-server.ts). Behind a proxy, the peer would be the proxy
   *  for everyone, and one guesser would lock every instructor out. */
  clientOf(req: http.IncomingMessage): string;
  /** How a page request the dashboard's gate lets through reaches the pages. */
  passToPages(req: http.IncomingMessage, res: http.ServerResponse): void | Promise<void>;
}

type Handler = (req: http.IncomingMessage, res: http.ServerResponse, params: string[]) => Promise<void>;

interface Route {
  method: "GET" | "POST";
  pattern: RegExp;
  instructor: boolean;
  handle: Handler;
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly field?: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

function sendJson(res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { "content-type": "application/json; charset=utf-8", "cache-control": "no-store", ...headers });
  res.end(JSON.stringify(body));
}

function sendError(res: http.ServerResponse, status: number, error: string, field?: string, headers: Record<string, string> = {}): void {
  const body: ApiError = field ? { error, field } : { error };
  sendJson(res, status, body, headers);
}

function redirect(res: http.ServerResponse, location: string, headers: Record<string, string | string[]> = {}): void {
  res.writeHead(303, { location, "cache-control": "no-store", ...headers });
  res.end();
}

/** The body, at most MAX_BODY_BYTES, as text. */
async function readBody(req: http.IncomingMessage): Promise<string> {
  const declared = Number(req.headers["content-length"] ?? 0);
  if (declared > MAX_BODY_BYTES) throw new HttpError(413, `The request is larger than ${MAX_BODY_BYTES / 1024} KiB.`);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) throw new HttpError(413, `The request is larger than ${MAX_BODY_BYTES / 1024} KiB.`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString("utf8");
}

function isForm(req: http.IncomingMessage): boolean {
  return (req.headers["content-type"] ?? "").startsWith("application/x-www-form-urlencoded");
}

/** A JSON body parsed with `schema`; anything else is a 400 that names the field. */
async function jsonBody<T>(req: http.IncomingMessage, schema: z.ZodType<T>): Promise<T> {
  if (!(req.headers["content-type"] ?? "").startsWith("application/json")) throw new HttpError(415, "Send the request as JSON (Content-Type: application/json).");
  let value: unknown;
  try {
    value = JSON.parse(await readBody(req));
  } catch (err) {
    if (err instanceof HttpError) throw err;
    throw new HttpError(400, "The request is not valid JSON.");
  }
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  const field = issue?.path.map(String).join(".") || undefined;
  const message = issue?.message ?? "invalid";
  throw new HttpError(400, field ? `${field}: ${message}.` : `${message}.`, field);
}

/** Fields of a form post. */
async function formBody(req: http.IncomingMessage): Promise<URLSearchParams> {
  return new URLSearchParams(await readBody(req));
}

const FORBIDDEN_PAGE = `<!doctype html><html lang="en"><meta charset="utf-8"><meta name="viewport" content="width=device-width"><title>Instructors only · nslab</title>
<body style="font-family:system-ui,sans-serif;max-width:40rem;margin:4rem auto;padding:0 1rem;line-height:1.5">
<h1>Instructors only</h1><p>This page is the instructor's dashboard. Log in with the instructor secret at <a href="/teach">/teach</a>, then open the class from there.</p></body></html>`;

export function createClassesApi(options: ClassesApiOptions) {
  const { classrooms } = options;

  const fromThisSite = (req: http.IncomingMessage): boolean => {
    const site = req.headers["sec-fetch-site"];
    if (site === "cross-site" || site === "same-site") return false;
    const origin = req.headers.origin;
    if (origin === undefined) return true;
    return origin !== "null" && options.originAllowed(origin);
  };

  const isInstructor = (req: http.IncomingMessage): Promise<boolean> => options.sessions.check(req.headers.cookie);

  const classParam = (value: string | undefined): string => {
    if (!ClassId.safeParse(value).success) throw new HttpError(404, "There is no such class.");
    return value as string;
  };
  const memberParam = (value: string | undefined): string => {
    if (!MemberId.safeParse(value).success) throw new HttpError(404, "That learner is not in this class.");
    return value as string;
  };

  const login: Handler = async (req, res) => {
    const form = isForm(req);
    const client = clientKey(options.clientOf(req));
    // Wrong secrets count against the address; a right one costs nothing, so a learner's
    // guesses from the same address (a classroom's NAT) cannot lock the instructor out for
    // longer than the guesses go on. Guesses in parallel are held to a few by the checks'
    // own bound (LoginBusyError).
    const tooMany = () => {
      const retryAfter = String(Math.max(1, options.loginLimiter.retryAfterS(client)));
      log.warn({ client }, "instructor login refused: too many attempts");
      if (form) return redirect(res, "/teach?error=rate_limited", { "retry-after": retryAfter });
      return sendError(res, 429, "Too many attempts from this address; wait a minute, then try again.", "secret", { "retry-after": retryAfter });
    };
    if (!options.loginLimiter.available(client)) return tooMany();
    const secret = form ? ((await formBody(req)).get("secret") ?? "") : (await jsonBody(req, LoginRequest)).secret;
    let right: boolean;
    try {
      right = await options.secret.verify(secret);
    } catch (err) {
      if (err instanceof LoginBusyError) return tooMany();
      throw err;
    }
    if (!right) {
      options.loginLimiter.take(client);
      log.warn({ client }, "instructor login failed: wrong secret");
      if (form) return redirect(res, "/teach?error=wrong");
      return sendError(res, 401, "That is not the instructor secret.", "secret");
    }
    const cookie = await options.sessions.login(Date.now(), options.secureCookies(req));
    log.info({ client }, "instructor logged in");
    if (form) return redirect(res, "/teach", { "set-cookie": cookie });
    sendJson(res, 200, { ok: true }, { "set-cookie": cookie });
  };

  const logout: Handler = async (req, res) => {
    const cookie = await options.sessions.logout(req.headers.cookie, options.secureCookies(req));
    if (isForm(req) || !(req.headers["content-type"] ?? "").startsWith("application/json")) return redirect(res, "/teach", { "set-cookie": cookie });
    sendJson(res, 200, { ok: true }, { "set-cookie": cookie });
  };

  const join: Handler = async (req, res) => {
    const form = isForm(req) || req.url?.split("?")[0] === "/join";
    const client = clientKey(options.clientOf(req));
    const refuse = (status: number, refusal: JoinRefusal, message: string, field: string | undefined, code: string) => {
      // Back to the page of the code, when it is one, saying why; else to the blank form.
      if (form) return redirect(res, JoinCode.safeParse(code).success && refusal !== "unknown_code" ? `/join/${code}?error=${refusal}` : `/join?error=${refusal}`);
      return sendError(res, status, message, field);
    };
    let typed: { code: string; name: string };
    if (form) {
      const fields = await formBody(req);
      typed = { code: fields.get("code") ?? "", name: fields.get("name") ?? "" };
    } else {
      typed = await jsonBody(req, JoinRequest);
    }
    const code = normalizeJoinCode(typed.code);
    if (!options.joinLimiter.take(client)) return refuse(429, "rate_limited", "Too many attempts from this address. Wait a minute, then try again.", undefined, code);
    const learnerId = options.learnerFor(req, res);
    try {
      const { record, displayName } = await classrooms.join(typed.code, typed.name, learnerId);
      const lessonPath = `/lessons/${record.lesson}`;
      // A first-time learner's cookie, set by learnerFor, goes out with the redirect.
      if (form) return redirect(res, lessonPath);
      sendJson(res, 200, { lessonPath, className: record.name, name: displayName });
    } catch (err) {
      if (err instanceof ClassroomError && err.refusal) return refuse(err.status, err.refusal, err.message, err.field, code);
      throw err;
    }
  };

  const stream: Handler = async (req, res, [id]) => {
    const classId = classParam(id);
    await classrooms.detail(classId); // 404 before the stream starts
    // A client that left during the awaits before this one is gone already: its close will
    // never be heard, so it is looked at here, and after every await below.
    if (res.destroyed) return;
    res.writeHead(200, { "content-type": "text/event-stream; charset=utf-8", "cache-control": "no-store", "x-accel-buffering": "no" });
    res.write("retry: 2000\n\n");
    let closed = false;
    let unsubscribe: (() => void) | null = null;
    const finish = () => {
      if (closed) return;
      closed = true;
      clearInterval(heartbeat);
      unsubscribe?.();
      unsubscribe = null;
      res.end();
    };
    const heartbeat = setInterval(() => {
      res.write(": keep-alive\n\n");
      // A login that ended (logged out, expired) ends its streams too.
      void isInstructor(req).then((ok) => {
        if (!ok) finish();
      }, finish);
    }, STREAM_HEARTBEAT_MS);
    heartbeat.unref();
    res.on("close", finish);
    const subscribed = await classrooms.subscribe(classId, {
      send: (event: DashboardEvent) => {
        if (!closed) res.write(`data: ${JSON.stringify(event)}\n\n`);
      },
      get bufferedBytes() {
        return res.writableLength;
      },
      close: (reason: string | null) => {
        if (!closed && reason !== null) res.write(`event: bye\ndata: ${JSON.stringify({ reason })}\n\n`);
        finish();
      },
    });
    if (!subscribed) {
      if (!closed) res.write(`event: bye\ndata: ${JSON.stringify({ reason: "This class already has as many dashboards open as it takes; close one first." })}\n\n`);
      finish();
      return;
    }
    unsubscribe = subscribed;
    // Gone while it subscribed: finish() lets the hub forget it (or already did).
    if (closed || res.destroyed) {
      subscribed();
      finish();
    }
  };

  const routes: Route[] = [
    { method: "POST", pattern: /^\/teach\/login$/, instructor: false, handle: login },
    { method: "POST", pattern: /^\/teach\/logout$/, instructor: false, handle: logout },
    { method: "POST", pattern: /^\/api\/join$/, instructor: false, handle: join },
    { method: "POST", pattern: /^\/join$/, instructor: false, handle: join },
    {
      method: "GET",
      pattern: /^\/api\/classes$/,
      instructor: true,
      handle: async (_req, res) => sendJson(res, 200, { classes: await classrooms.list(), defaultLimits: classrooms.defaultLimits }),
    },
    {
      method: "POST",
      pattern: /^\/api\/classes$/,
      instructor: true,
      handle: async (req, res) => sendJson(res, 201, await classrooms.create(await jsonBody(req, ClassCreateRequest))),
    },
    {
      method: "GET",
      pattern: /^\/api\/classes\/([^/]+)$/,
      instructor: true,
      handle: async (_req, res, [id]) => sendJson(res, 200, await classrooms.detail(classParam(id))),
    },
    { method: "GET", pattern: /^\/api\/classes\/([^/]+)\/events$/, instructor: true, handle: stream },
    {
      method: "GET",
      pattern: /^\/api\/classes\/([^/]+)\/progress\.csv$/,
      instructor: true,
      handle: async (_req, res, [id]) => {
        const { filename, body } = await classrooms.progressCsv(classParam(id));
        res.writeHead(200, { "content-type": "text/csv; charset=utf-8", "content-disposition": `attachment; filename="${filename}"`, "cache-control": "no-store" });
        res.end(body);
      },
    },
    ...(["close", "reopen", "archive"] as const).map(
      (action): Route => ({
        method: "POST",
        pattern: new RegExp(`^/api/classes/([^/]+)/${action}$`),
        instructor: true,
        handle: async (_req, res, [id]) => sendJson(res, 200, await classrooms.setState(classParam(id), action === "close" ? "closed" : action === "reopen" ? "open" : "archived")),
      }),
    ),
    {
      method: "POST",
      pattern: /^\/api\/classes\/([^/]+)\/broadcast$/,
      instructor: true,
      handle: async (req, res, [id]) => {
        const classId = classParam(id);
        const { message } = await jsonBody(req, BroadcastRequest);
        sendJson(res, 200, { lastBroadcast: await classrooms.broadcast(classId, message) });
      },
    },
    {
      method: "POST",
      pattern: /^\/api\/classes\/([^/]+)\/limits$/,
      instructor: true,
      handle: async (req, res, [id]) => {
        const classId = classParam(id);
        const { limits } = await jsonBody(req, LimitsChangeRequest);
        sendJson(res, 200, await classrooms.changeLimits(classId, limits));
      },
    },
    {
      method: "POST",
      pattern: /^\/api\/classes\/([^/]+)\/code$/,
      instructor: true,
      handle: async (_req, res, [id]) => sendJson(res, 200, await classrooms.newCode(classParam(id))),
    },
    {
      method: "POST",
      pattern: /^\/api\/classes\/([^/]+)\/learners\/([^/]+)\/(reset|end|limits|remove)$/,
      instructor: true,
      handle: async (req, res, [id, member, action]) => {
        const classId = classParam(id);
        const memberId = memberParam(member);
        if (action === "limits") {
          const { limits } = await jsonBody(req, LimitsChangeRequest);
          return sendJson(res, 200, await classrooms.changeLimits(classId, limits, memberId));
        }
        if (action === "reset") await classrooms.reset(classId, memberId);
        else if (action === "remove") await classrooms.removeMember(classId, memberId);
        else await classrooms.endSession(classId, memberId);
        sendJson(res, 200, { ok: true });
      },
    },
  ];

  /** Answers the request if it is the classroom's; false to leave it to the pages. */
  return function handleClassroom(req: http.IncomingMessage, res: http.ServerResponse, url: URL): boolean {
    const pathname = url.pathname;
    // As the pages' router will read it: /teach/%63lasses/… is /teach/classes/… to it.
    let decoded = pathname;
    try {
      decoded = decodeURIComponent(pathname);
    } catch {
      // Not valid percent-encoding: no page of ours either.
    }
    if (req.method === "GET" && decoded.startsWith("/teach/classes")) {
      // The dashboard's page itself: only for the instructor, whatever its script would do.
      void isInstructor(req).then(
        (ok) => {
          if (ok && fromThisSite(req)) return false;
          res.writeHead(403, { "content-type": "text/html; charset=utf-8", "cache-control": "no-store" });
          res.end(FORBIDDEN_PAGE);
          return true;
        },
        (err: unknown) => {
          log.error({ err }, "instructor check failed");
          res.writeHead(503, { "content-type": "text/plain" });
          res.end("The lab cannot check the instructor's login right now; try again in a moment.\n");
          return true;
        },
      ).then((answered) => {
        if (!answered) void options.passToPages(req, res);
      });
      return true;
    }
    const isClassroomPath = pathname === "/join" || pathname.startsWith("/teach/") || pathname === "/api/join" || pathname === "/api/classes" || pathname.startsWith("/api/classes/");
    if (!isClassroomPath) return false;
    // GET /join and the /teach pages are pages.
    if (req.method === "GET" && (pathname === "/join" || pathname.startsWith("/teach/"))) return false;
    const candidates = routes.filter((r) => r.pattern.test(pathname));
    if (candidates.length === 0) {
      sendError(res, 404, "There is no such classroom address.");
      return true;
    }
    const route = candidates.find((r) => r.method === req.method);
    if (!route) {
      const allow = candidates.map((r) => r.method).join(", ");
      sendError(res, 405, `Use ${allow} for this address.`, undefined, { allow });
      return true;
    }
    const params = (route.pattern.exec(pathname) ?? []).slice(1);
    void (async () => {
      if ((req.method !== "GET" || route.instructor) && !fromThisSite(req)) {
        log.warn({ origin: req.headers.origin, path: pathname }, "classroom request from another site refused");
        throw new HttpError(403, "This request came from another site; the classroom only answers its own pages.");
      }
      if (route.instructor && !(await isInstructor(req))) throw new HttpError(403, "Only the instructor can do this. Log in at /teach first.");
      await route.handle(req, res, params);
    })().catch((err: unknown) => {
      if (res.headersSent) {
        res.end();
        return;
      }
      if (err instanceof HttpError) return sendError(res, err.status, err.message, err.field, err.headers);
      if (err instanceof ClassroomError) return sendError(res, err.status, err.message, err.field);
      log.error({ path: pathname, err }, "classroom request failed");
      sendError(res, 500, "The classroom could not do that because of an error on the server. Try again; if it keeps failing, tell the lab's operator.");
    });
    return true;
  };

}
