// The image's package check: a package another apt run left mid-trigger is still installed.
import { describe, expect, it } from "vitest";

// @ts-expect-error: plain JS run by the setup scripts, without type declarations
import { hostHasPackage, statusMeansInstalled } from "./rootfs.mjs";

describe("statusMeansInstalled", () => {
  it("counts installed, triggers-pending and triggers-awaited packages, held or not", () => {
    for (const abbrev of ["ii ", "it ", "iW ", "hi ", "ht ", "hW "]) expect(statusMeansInstalled(abbrev), abbrev).toBe(true);
  });
  it("does not count removed, half-installed, unpacked or config-files packages", () => {
    for (const abbrev of ["rc ", "un ", "iU ", "iF ", "iH ", "ri ", "pi ", ""]) expect(statusMeansInstalled(abbrev), abbrev).toBe(false);
  });
});

describe("hostHasPackage", () => {
  it("finds bash and not a package that does not exist", () => {
    expect(hostHasPackage("bash")).toBe(true);
    expect(hostHasPackage("nslab-no-such-package")).toBe(false);
  });
});
