// The join form's rules, apart from its markup: a code typed any way ("abc-234") read as the
// class's code, a name checked by the same schema the server uses, the refusal a page without
// script is sent back with, and where the server's answer may send the learner.

import { DisplayName, JoinCode, JoinRefusal, joinRefusalText, normalizeJoinCode } from "../../common/classroom";
import { asSentence } from "./class-form";

export type JoinField = "code" | "name";
export type JoinErrors = Partial<Record<JoinField, string>>;

export const BAD_CODE = "A join code is 6 letters and digits, like K7M2QX. Your instructor shows it on the screen.";

export type JoinRead = { ok: true; code: string; name: string } | { ok: false; errors: JoinErrors };

export function readJoinForm(typedCode: string, typedName: string): JoinRead {
  const errors: JoinErrors = {};
  const code = normalizeJoinCode(typedCode);
  if (!JoinCode.safeParse(code).success) errors.code = BAD_CODE;
  const name = DisplayName.safeParse(typedName);
  if (!name.success) errors.name = asSentence(name.error.issues[0]?.message ?? joinRefusalText.bad_name);
  if (!name.success || errors.code) return { ok: false, errors };
  return { ok: true, code, name: name.data };
}

/** The refusal in a `?error=` the server redirected with, or null for none or an unknown one. */
export function refusalFromQuery(value: string | string[] | undefined): JoinRefusal | null {
  const parsed = JoinRefusal.safeParse(Array.isArray(value) ? value[0] : value);
  return parsed.success ? parsed.data : null;
}

/** Which control a refusal is about: an unknown or closed code is the code's, the rest the name's. */
export function refusalField(refusal: JoinRefusal): JoinField | null {
  switch (refusal) {
    case "unknown_code":
    case "closed":
    case "full":
    case "removed":
      return "code";
    case "bad_name":
      return "name";
    case "rate_limited":
      return null;
  }
}

/**
 * The lesson page a join answered with, if it is one of this site's own paths. The answer comes
 * from the server, but the page goes nowhere it did not expect: never to another origin
 * ("//evil.example", "https://…", "/\\evil.example").
 */
export function safeLessonPath(path: string): string | null {
  return /^\/lessons\/[a-z0-9-]+(?:[?#][^\\]*)?$/.test(path) ? path : null;
}

/** A path segment as text: decoded when it is percent-encoded, as it came when it is malformed. */
export function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}
