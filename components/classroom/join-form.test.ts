import { describe, expect, it } from "vitest";

import { BAD_CODE, decodeSegment, readJoinForm, refusalField, refusalFromQuery, safeLessonPath } from "./join-form";

describe("joining", () => {
  it("reads a code typed any way and tidies the name", () => {
    expect(readJoinForm(" k7m-2qx ", "  Ada   Lovelace ")).toEqual({ ok: true, code: "K7M2QX", name: "Ada Lovelace" });
  });

  it("says what a code and a name must be", () => {
    const read = readJoinForm("K7M2Q0", "");
    expect(read).toEqual({ ok: false, errors: { code: BAD_CODE, name: "A name cannot be empty." } });
    expect(readJoinForm("K7M2QX", "x".repeat(41))).toMatchObject({ ok: false, errors: { name: expect.stringMatching(/40/) } });
  });

  it("knows the refusals a page without script comes back with, and nothing else", () => {
    expect(refusalFromQuery("full")).toBe("full");
    expect(refusalFromQuery(["closed", "full"])).toBe("closed");
    expect(refusalFromQuery("<script>")).toBeNull();
    expect(refusalFromQuery(undefined)).toBeNull();
    expect(refusalField("bad_name")).toBe("name");
    expect(refusalField("rate_limited")).toBeNull();
    // A removed learner's refusal is about the class they named, so it sits by the code.
    expect(refusalFromQuery("removed")).toBe("removed");
    expect(refusalField("removed")).toBe("code");
  });

  it("goes only to this site's lesson pages", () => {
    expect(safeLessonPath("/lessons/containers-vs-vms")).toBe("/lessons/containers-vs-vms");
    expect(safeLessonPath("/lessons/containers-vs-vms#lab")).toBe("/lessons/containers-vs-vms#lab");
    for (const path of ["//evil.example/lessons/x", "https://evil.example/", "/\\evil.example", "/teach", "javascript:alert(1)"]) {
      expect(safeLessonPath(path)).toBeNull();
    }
  });
});

describe("a code from the link", () => {
  it("is decoded when it can be, and kept as it came when it cannot", () => {
    expect(decodeSegment("abc%2D234")).toBe("abc-234");
    expect(decodeSegment("%E0%A4%A")).toBe("%E0%A4%A");
  });
});
