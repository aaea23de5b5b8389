import { describe, expect, it } from "vitest";

import { CLASS_DEFAULTS } from "../../common/classroom";
import { MiB } from "../../common/limits";
import { asSentence, classFieldFromApi, defaultClassInputs, readClassForm } from "./class-form";

const filled = (overrides: Partial<ReturnType<typeof defaultClassInputs>> = {}) => ({
  ...defaultClassInputs("containers-vs-vms"),
  name: "Tuesday group",
  ...overrides,
});

describe("the New class form", () => {
  it("starts from the solo lab's limits and the class defaults, durations in minutes", () => {
    const inputs = defaultClassInputs("containers-vs-vms");
    expect(inputs.limits).toEqual({ memoryBytes: "256m", memorySwapBytes: "256m", cpus: "0.5", pids: "100" });
    expect(inputs.capacity).toBe(String(CLASS_DEFAULTS.capacity));
    expect(inputs.reconnectGraceMin).toBe("5");
    expect(inputs.sessionLifetimeMin).toBe("180");
    expect(inputs.idleTimeoutMin).toBe("30");
  });

  it("sends seconds and bytes, as ClassCreateRequest has them", () => {
    const read = readClassForm(filled({ reconnectGraceMin: "0.5", name: "  Tuesday   group " }));
    expect(read).toEqual({
      ok: true,
      request: {
        name: "Tuesday group",
        lesson: "containers-vs-vms",
        limits: { memoryBytes: 256 * MiB, memorySwapBytes: 256 * MiB, cpus: 0.5, pids: 100 },
        capacity: 40,
        reconnectGraceS: 30,
        sessionLifetimeS: 10_800,
        idleTimeoutS: 1800,
      },
    });
  });

  it("puts each problem beside its control, as a sentence", () => {
    const read = readClassForm(filled({ name: "   ", capacity: "201", idleTimeoutMin: "soon", lesson: "" }));
    expect(read.ok).toBe(false);
    if (read.ok) return;
    expect(read.errors.name).toBe("A class name cannot be empty.");
    expect(read.errors.capacity).toMatch(/1 to 200/);
    expect(read.errors.idleTimeoutMin).toMatch(/minutes/);
    expect(read.errors.lesson).toMatch(/lesson/);
  });

  it("refuses names with control characters and limits that break docker's rules", () => {
    const read = readClassForm(filled({ name: "evil\u202eeman", limits: { memoryBytes: "1g", memorySwapBytes: "256m", cpus: "0.5", pids: "100" } }));
    expect(read).toMatchObject({ ok: false, errors: { name: expect.stringMatching(/control characters/), memorySwapBytes: expect.any(String) } });
  });

  it("finds the control a server error names", () => {
    expect(classFieldFromApi("name")).toBe("name");
    expect(classFieldFromApi("limits.cpus")).toBe("cpus");
    expect(classFieldFromApi("idleTimeoutS")).toBe("idleTimeoutMin");
    expect(classFieldFromApi("somethingElse")).toBeNull();
  });

  it("turns schema text into sentences", () => {
    expect(asSentence("a name cannot be empty")).toBe("A name cannot be empty.");
    expect(asSentence("Done.")).toBe("Done.");
  });
});
