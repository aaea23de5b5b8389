// Reading one cookie from a request's Cookie header. Only a value of the expected form counts:
// a cookie that is there but malformed is the same as none.

/** The value of cookie `name` in `header`, when it matches `pattern`; otherwise null. */
export function cookieValue(header: string | undefined, name: string, pattern: RegExp): string | null {
  for (const part of (header ?? "").split(";")) {
    const [key, value] = part.trim().split("=");
    if (key === name && value && pattern.test(value)) return value;
  }
  return null;
}
