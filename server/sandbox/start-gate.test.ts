import { describe, expect, it } from "vitest";

import { StartAbandoned, StartGate, StartGateFull, defaultStartConcurrency } from "./start-gate";

/** A start the test finishes by hand. */
function deferred(): { promise: Promise<string>; resolve(v: string): void; reject(e: Error): void } {
  let resolve!: (v: string) => void;
  let reject!: (e: Error) => void;
  const promise = new Promise<string>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

const turn = () => new Promise((r) => setImmediate(r));

describe("StartGate", () => {
  it("runs at most `concurrency` starts at once, the others in the order they came", async () => {
    const gate = new StartGate(2, 10);
    const begun: number[] = [];
    const starts = Array.from({ length: 5 }, () => deferred());
    const results = starts.map((d, i) =>
      gate.run(() => {
        begun.push(i);
        return d.promise;
      }),
    );
    await turn();
    expect(begun).toEqual([0, 1]);
    expect(gate.active).toBe(2);
    expect(gate.waiting).toBe(3);
    starts[1]!.resolve("one");
    await turn();
    expect(begun).toEqual([0, 1, 2]);
    starts[0]!.resolve("zero");
    starts[2]!.resolve("two");
    await turn();
    expect(begun).toEqual([0, 1, 2, 3, 4]);
    expect(gate.active).toBe(2);
    starts[3]!.resolve("three");
    starts[4]!.resolve("four");
    expect(await Promise.all(results)).toEqual(["zero", "one", "two", "three", "four"]);
    expect(gate.active).toBe(0);
    expect(gate.waiting).toBe(0);
  });

  it("hands the turn on when a start fails", async () => {
    const gate = new StartGate(1, 10);
    const first = deferred();
    const failed = gate.run(() => first.promise);
    const second = gate.run(async () => "second ran");
    first.reject(new Error("launcher failed"));
    await expect(failed).rejects.toThrow("launcher failed");
    expect(await second).toBe("second ran");
    expect(gate.active).toBe(0);
  });

  it("refuses a start once the line is full, and takes one again when there is room", async () => {
    const gate = new StartGate(1, 1);
    const first = deferred();
    const running = gate.run(() => first.promise);
    const queued = gate.run(async () => "queued");
    await expect(gate.run(async () => "refused")).rejects.toBeInstanceOf(StartGateFull);
    await expect(gate.run(async () => "refused")).rejects.toThrow(/already waiting to start; try again/);
    first.resolve("first");
    expect(await running).toBe("first");
    expect(await queued).toBe("queued");
    expect(await gate.run(async () => "later")).toBe("later");
  });

  it("takes a start whose page left out of the line, and never runs it", async () => {
    const gate = new StartGate(1, 1);
    const first = deferred();
    const running = gate.run(() => first.promise);
    const left = new AbortController();
    let ran = false;
    const abandoned = gate.run(async () => {
      ran = true;
      return "should not run";
    }, left.signal);
    expect(gate.waiting).toBe(1);
    left.abort();
    await expect(abandoned).rejects.toBeInstanceOf(StartAbandoned);
    // Its place is free again: the line takes another, and the turn goes to that one.
    expect(gate.waiting).toBe(0);
    const next = gate.run(async () => "next");
    first.resolve("first");
    expect(await running).toBe("first");
    expect(await next).toBe("next");
    expect(ran).toBe(false);
    // Given up before it asked: refused at once.
    await expect(gate.run(async () => "late", left.signal)).rejects.toBeInstanceOf(StartAbandoned);
    expect(gate.active).toBe(0);
  });

  it("runs a start that already has its turn to its end when its page leaves", async () => {
    const gate = new StartGate(1, 1);
    const left = new AbortController();
    const start = deferred();
    const running = gate.run(() => start.promise, left.signal);
    left.abort();
    start.resolve("made");
    expect(await running).toBe("made");
  });

  it("rejects settings that would never start anything", () => {
    expect(() => new StartGate(0, 1)).toThrow(RangeError);
    expect(() => new StartGate(1.5, 1)).toThrow(RangeError);
    expect(() => new StartGate(1, -1)).toThrow(RangeError);
  });

  it("starts half the CPUs' worth at once, and one on a machine of one or two", () => {
    expect(defaultStartConcurrency(1)).toBe(1);
    expect(defaultStartConcurrency(2)).toBe(1);
    expect(defaultStartConcurrency(3)).toBe(1);
    expect(defaultStartConcurrency(16)).toBe(8);
  });
});
