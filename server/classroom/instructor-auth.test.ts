import fs from "node:fs";
import os from "node:os";
import path from "node:path";

import { afterEach, beforeEach, describe, expect, it } from "vitest";

import { openSqliteStore } from "../store/sqlite-store";
import type { Store } from "../store/store";
import { AttemptLimiter, InstructorSessions, SECRET_FILE, clientKey, instructorToken, loadInstructorSecret } from "./instructor-auth";

describe("the instructor secret", () => {
  let dir: string;

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "nslab-secret-"));
  });

  afterEach(() => {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("is made on the first start, kept only as a hash readable by root alone, and the same on the next start", async () => {
    const first = await loadInstructorSecret({ fromEnvironment: undefined, dataDir: dir });
    expect(first.source).toBe("generated");
    const secret = first.generated ?? "";
    expect(secret).toMatch(/^[A-Za-z0-9_-]{20}$/);
    const file = path.join(dir, SECRET_FILE);
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    const stored = fs.readFileSync(file, "utf8");
    expect(stored).not.toContain(secret);
    expect(stored).toMatch(/^scrypt\$32768\$8\$1\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+\n$/);

    const second = await loadInstructorSecret({ fromEnvironment: undefined, dataDir: dir });
    expect(second.source).toBe("file");
    expect(second.generated).toBeNull();
    expect(await second.verify(secret)).toBe(true);
    expect(await second.verify(`${secret}x`)).toBe(false);
    expect(await second.verify("")).toBe(false);
  });

  it("comes from NSLAB_INSTRUCTOR_SECRET when it is set, which writes nothing, and must not be short", async () => {
    const fromEnv = await loadInstructorSecret({ fromEnvironment: "a long enough secret", dataDir: dir });
    expect(fromEnv.source).toBe("environment");
    expect(await fromEnv.verify("a long enough secret")).toBe(true);
    expect(await fromEnv.verify("a long enough secreT")).toBe(false);
    expect(fs.existsSync(path.join(dir, SECRET_FILE))).toBe(false);
    await expect(loadInstructorSecret({ fromEnvironment: "short", dataDir: dir })).rejects.toThrow(/at least 12 characters/);
  });

  it("refuses a hash file it did not write, saying how to start over", async () => {
    fs.writeFileSync(path.join(dir, SECRET_FILE), "hunter2\n");
    await expect(loadInstructorSecret({ fromEnvironment: undefined, dataDir: dir })).rejects.toThrow(/remove it to have a new secret made/);
  });
});

describe("the instructor's logins", () => {
  let store: Store;

  beforeEach(() => {
    store = openSqliteStore(":memory:");
  });

  afterEach(async () => {
    await store.close();
  });

  it("gives a cookie that is a login until it expires or is logged out", async () => {
    const sessions = new InstructorSessions(store.instructorSessions, 60_000);
    const setCookie = await sessions.login(1_000);
    const cookie = setCookie.split(";")[0] ?? "";
    expect(instructorToken(`nslab_learner=abc; ${cookie}`)).toBe(cookie.split("=")[1]);
    expect(await sessions.check(cookie, 2_000)).toBe(true);
    expect(await sessions.check(cookie, 61_001)).toBe(false);
    expect(await sessions.check(undefined, 2_000)).toBe(false);
    expect(await sessions.check("nslab_teach=short", 2_000)).toBe(false);

    const other = (await sessions.login(1_000)).split(";")[0] ?? "";
    expect(await sessions.logout(other)).toMatch(/^nslab_teach=; Path=\/; Max-Age=0; HttpOnly; SameSite=Strict$/);
    expect(await sessions.check(other, 2_000)).toBe(false);
    // Logging one login out leaves the others.
    expect(await sessions.check(cookie, 2_000)).toBe(true);
    // Served over HTTPS, the cookie never goes out over plain HTTP.
    expect(await sessions.login(1_000, true)).toMatch(/; HttpOnly; SameSite=Strict; Secure$/);
  });
});

describe("clientKey", () => {
  it("keeps an IPv4 address as it is, and an IPv6 one by its /64", () => {
    expect(clientKey("10.1.2.3")).toBe("10.1.2.3");
    expect(clientKey("::ffff:10.1.2.3")).toBe("10.1.2.3");
    expect(clientKey("2001:db8:1:2:aaaa::1")).toBe("2001:db8:1:2::/64");
    expect(clientKey("2001:db8:1:2:bbbb:cccc:dddd:eeee")).toBe("2001:db8:1:2::/64");
    expect(clientKey("2001:db8::1")).toBe("2001:db8:0:0::/64");
    expect(clientKey("::1")).toBe("0:0:0:0::/64");
    expect(clientKey("fe80::1%eth0")).toBe("fe80:0:0:0::/64");
    expect(clientKey(undefined)).toBe("unknown");
  });
});

describe("AttemptLimiter", () => {
  it("allows a burst per client, then one attempt per refill period", () => {
    const limiter = new AttemptLimiter(3, 10_000);
    expect([1, 2, 3, 4].map(() => limiter.take("a", 0))).toEqual([true, true, true, false]);
    expect(limiter.take("b", 0)).toBe(true);
    expect(limiter.retryAfterS("a", 0)).toBe(10);
    expect(limiter.take("a", 9_999)).toBe(false);
    // Two periods since the start: two attempts, then none.
    expect([1, 2, 3].map(() => limiter.take("a", 20_000))).toEqual([true, true, false]);
  });

  it("forgets the least recently seen client past its bound", () => {
    const limiter = new AttemptLimiter(1, 60_000, 2);
    limiter.take("a", 0);
    limiter.take("b", 0);
    limiter.take("c", 0);
    // "a" was forgotten and starts over; "c" was kept and has none left.
    expect(limiter.take("a", 0)).toBe(true);
    expect(limiter.take("c", 0)).toBe(false);
  });
});
