// Reading one cookie from a request's Cookie header, and whether the cookies the lab sets must
// be Secure. Only a value of the expected form counts: a cookie that is there but malformed is
// the same as none.
import type http from "node:http";

/** The value of cookie `name` in `header`, when it matches `pattern`; otherwise null. */
export function cookieValue(header: string | undefined, name: string, pattern: RegExp): string | null {
  for (const part of (header ?? "").split(";")) {
    const [key, value] = part.trim().split("=");
    if (key === name && value && pattern.test(value)) return value;
  }
  return null;
}

/** Whether the browser reached this server over HTTPS: itself, or a proxy in front that says
 *  so (the first X-Forwarded-Proto, the one the proxy nearest the browser wrote). A forged
 *  header could only make a cookie Secure, which harms nobody but the forger. */
export function overHttps(req: http.IncomingMessage): boolean {
  if ((req.socket as { encrypted?: boolean }).encrypted === true) return true;
  const forwarded = req.headers["x-forwarded-proto"];
  const first = (Array.isArray(forwarded) ? forwarded[0] : forwarded)?.split(",")[0]?.trim().toLowerCase();
  return first === "https";
}
