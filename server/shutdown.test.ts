import { afterEach, describe, expect, it } from "vitest";

import { ShutdownOnSignal } from "./shutdown";

// The signals are emitted on the process object, not sent: the handlers run as they would,
// and the test's process is never at risk of its default action.
describe("ShutdownOnSignal", () => {
  let shutdown: ShutdownOnSignal | null = null;
  afterEach(() => shutdown?.dispose());

  const exits = () => {
    const codes: number[] = [];
    return { codes, exit: (code: number) => void codes.push(code) };
  };

  it("stops once and exits 0, however many signals come", async () => {
    const { codes, exit } = exits();
    shutdown = new ShutdownOnSignal(10_000, exit);
    let stops = 0;
    shutdown.ready(async () => void stops++);
    process.emit("SIGTERM");
    process.emit("SIGINT");
    await new Promise((r) => setTimeout(r, 20));
    expect({ stops, codes }).toEqual({ stops: 1, codes: [0] });
  });

  it("remembers a signal that comes during start-up, and stops as soon as start-up ends", async () => {
    const { codes, exit } = exits();
    shutdown = new ShutdownOnSignal(10_000, exit);
    process.emit("SIGTERM");
    expect(shutdown.requested).toBe(true);
    expect(codes).toEqual([]);
    let stopped = false;
    shutdown.ready(async () => void (stopped = true));
    await new Promise((r) => setTimeout(r, 20));
    expect({ stopped, codes }).toEqual({ stopped: true, codes: [0] });
  });

  it("exits 1 when the stop does not finish within the deadline, or fails", async () => {
    const hung = exits();
    shutdown = new ShutdownOnSignal(30, hung.exit);
    shutdown.ready(() => new Promise(() => {}));
    process.emit("SIGTERM");
    await new Promise((r) => setTimeout(r, 100));
    expect(hung.codes).toEqual([1]);
    shutdown.dispose();

    const failed = exits();
    shutdown = new ShutdownOnSignal(10_000, failed.exit);
    shutdown.ready(() => Promise.reject(new Error("the store would not close")));
    process.emit("SIGTERM");
    await new Promise((r) => setTimeout(r, 20));
    expect(failed.codes).toEqual([1]);
  });
});
