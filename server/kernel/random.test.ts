// The kernel's random bytes, as sandbox names are made from them.
import { describe, expect, it } from "vitest";

import { randomBytes } from "./random";

describe("randomBytes", () => {
  it("gives exactly the number of bytes asked for", () => {
    for (const size of [0, 1, 8, 4096]) expect(randomBytes(size)).toHaveLength(size);
  });

  it("gives different bytes each time: no two of a thousand 8-byte names are the same", () => {
    const names = new Set(Array.from({ length: 1000 }, () => randomBytes(8).toString("hex")));
    expect(names.size).toBe(1000);
  });
});
