import { describe, expect, it } from "vitest";

import { TokenBucket } from "./token-bucket";

describe("a token bucket", () => {
  it("gives a burst, then what flows in, and never more than the burst", () => {
    let now = 0;
    const bucket = new TokenBucket(10, 20, () => now);
    for (let i = 0; i < 20; i++) expect(bucket.take()).toBe(true);
    expect(bucket.take()).toBe(false);
    now += 100;
    expect(bucket.take()).toBe(true);
    expect(bucket.take()).toBe(false);
    now += 60_000;
    for (let i = 0; i < 20; i++) expect(bucket.take()).toBe(true);
    expect(bucket.take()).toBe(false);
  });

  it("takes nothing when it cannot take all, and goes into debt only when spending", () => {
    let now = 0;
    const bucket = new TokenBucket(1000, 1000, () => now);
    expect(bucket.take(1500)).toBe(false);
    expect(bucket.take(1000)).toBe(true);
    expect(bucket.spend(500)).toBe(500);
    now += 250;
    expect(bucket.spend(0)).toBe(250);
    now += 250;
    expect(bucket.spend(0)).toBe(0);
  });

  it("does not refill from a clock set back", () => {
    let now = 10_000;
    const bucket = new TokenBucket(10, 10, () => now);
    for (let i = 0; i < 10; i++) bucket.take();
    now = 0;
    expect(bucket.take()).toBe(false);
  });
});
