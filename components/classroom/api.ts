// The classroom's JSON API as the pages call it: one function that sends a request, parses the
// answer with the contract's schema (never `as T`), and turns every way it can go wrong into a
// sentence that says what to do — with the field at fault when the server names one.

import type { z } from "zod";

import { ApiError } from "../../common/classroom";

export type ApiResult<T> = { ok: true; value: T } | { ok: false; status: number; message: string; field: string | null };

/** fetch, or a stand-in for it in tests. */
export type Fetch = (input: string, init?: RequestInit) => Promise<Response>;

const UNREACHABLE = "The server did not answer. Check that it is still running and that this device is online, then try again.";

/** What to say for an error answer that carries no sentence of its own. */
export function statusMessage(status: number): string {
  if (status === 401 || status === 403) return "You are not logged in as the instructor, or your login has expired. Log in again on the Teach page.";
  if (status === 404) return "The server knows no such class or learner. Go back to your classes and open it from there.";
  if (status === 429) return "Too many requests at once. Wait a few seconds, then try again.";
  if (status >= 500) return `The server failed (HTTP ${status}). Its log says why; try again in a moment.`;
  return `The server refused the request (HTTP ${status}).`;
}

function shapeMessage(issues: readonly z.core.$ZodIssue[]): string {
  const first = issues[0];
  const where = first && first.path.length > 0 ? ` at ${first.path.map(String).join(".")}` : "";
  return `The server's answer was not what this page expects${where}. The page and the server may be different versions: reload the page.`;
}

/**
 * Calls the API at `path` (same origin; the instructor's cookie goes along by itself). `body`,
 * when given, is sent as JSON.
 */
export async function callApi<T>(
  path: string,
  schema: z.ZodType<T>,
  options: { method?: "GET" | "POST"; body?: unknown; fetch?: Fetch; signal?: AbortSignal } = {},
): Promise<ApiResult<T>> {
  const send = options.fetch ?? ((input, init) => fetch(input, init));
  let response: Response;
  try {
    response = await send(path, {
      method: options.method ?? (options.body === undefined ? "GET" : "POST"),
      credentials: "same-origin",
      headers: options.body === undefined ? { accept: "application/json" } : { accept: "application/json", "content-type": "application/json" },
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
      signal: options.signal,
    });
  } catch (error) {
    if (options.signal?.aborted) throw error;
    return { ok: false, status: 0, message: UNREACHABLE, field: null };
  }

  let json: unknown = undefined;
  try {
    json = JSON.parse(await response.text());
  } catch {
    // Not JSON (a proxy's error page, an empty body): the status is all there is to go on.
  }

  if (!response.ok) {
    const apiError = ApiError.safeParse(json);
    if (apiError.success) return { ok: false, status: response.status, message: apiError.data.error, field: apiError.data.field ?? null };
    return { ok: false, status: response.status, message: statusMessage(response.status), field: null };
  }

  const parsed = schema.safeParse(json);
  if (!parsed.success) return { ok: false, status: response.status, message: shapeMessage(parsed.error.issues), field: null };
  return { ok: true, value: parsed.data };
}

/**
 * A server message shown beside the control it names: without the field's own name in front
 * ("limits.cpus: CPUs range from…" → "CPUs range from…"), which the control's label already says.
 */
export function fieldMessage(message: string, field: string | null): string {
  if (!field || !message.startsWith(`${field}: `)) return message;
  const rest = message.slice(field.length + 2);
  return rest.charAt(0).toUpperCase() + rest.slice(1);
}
