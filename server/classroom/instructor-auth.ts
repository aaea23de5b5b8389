// Who the instructor is: whoever knows the instructor secret. The secret comes from
// NSLAB_INSTRUCTOR_SECRET, or is made on the first start, printed once to the log with the
// login address, and kept only as a scrypt hash in the data directory (instructor-secret), so
// that a copy of the data directory does not give the class away.
//
// Logging in trades the secret for a cookie (nslab_teach: HttpOnly, SameSite=Strict) holding a
// random token; the store keeps the token's SHA-256 and its expiry, so a login survives a
// restart, works on every node sharing the store, and logging out ends it everywhere. Wrong
// secrets are limited per client address.
import { createHash, randomBytes, scrypt as scryptCallback, timingSafeEqual } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { promisify } from "node:util";

import { INSTRUCTOR_COOKIE } from "../../common/classroom";
import { cookieValue } from "../http/cookies";
import type { InstructorSessionStore } from "../store/store";

const scrypt = promisify(scryptCallback) as (password: string, salt: Buffer, keylen: number, options: { N: number; r: number; p: number; maxmem: number }) => Promise<Buffer>;

/** scrypt's cost (N = 2^15, r = 8: about 32 MiB and a few tens of milliseconds, in libuv's
 *  thread pool, never on the event loop). */
const SCRYPT = { N: 1 << 15, r: 8, p: 1, maxmem: 64 * 1024 * 1024 };
const KEY_BYTES = 32;
export const SECRET_FILE = "instructor-secret";
/** The shortest secret NSLAB_INSTRUCTOR_SECRET may be. */
export const MIN_SECRET_LENGTH = 12;
/** How long a login lasts. */
export const INSTRUCTOR_SESSION_MS = 12 * 3600 * 1000;

interface SecretHash {
  salt: Buffer;
  key: Buffer;
}

function encode(hash: SecretHash): string {
  return `scrypt$${SCRYPT.N}$${SCRYPT.r}$${SCRYPT.p}$${hash.salt.toString("base64")}$${hash.key.toString("base64")}\n`;
}

function decode(text: string, file: string): SecretHash & { N: number; r: number; p: number } {
  const parts = text.trim().split("$");
  const [kind, n, r, p, salt, key] = parts;
  if (parts.length !== 6 || kind !== "scrypt" || !n || !r || !p || !salt || !key) {
    throw new Error(`${file} is not an instructor secret hash nslab wrote; remove it to have a new secret made, or set NSLAB_INSTRUCTOR_SECRET`);
  }
  return { N: Number(n), r: Number(r), p: Number(p), salt: Buffer.from(salt, "base64"), key: Buffer.from(key, "base64") };
}

async function hashSecret(secret: string, salt: Buffer): Promise<Buffer> {
  return scrypt(secret, salt, KEY_BYTES, SCRYPT);
}

/** Secret checks at once, and waiting: each is a 32 MiB scrypt in libuv's thread pool of four,
 *  which Node's file work shares; a flood of logins must not take all of it. */
export const MAX_CONCURRENT_CHECKS = 2;
export const MAX_WAITING_CHECKS = 16;

/** More secret checks are waiting than the server takes: the login is refused, not queued. */
export class LoginBusyError extends Error {
  override name = "LoginBusyError";
  constructor() {
    super("too many logins are being checked right now");
  }
}

export interface InstructorSecret {
  /** Whether `candidate` is the secret. Constant time in what it compares. Rejects with
   *  LoginBusyError when too many checks are under way. */
  verify(candidate: string): Promise<boolean>;
  /** The secret, only when this start made it (to be logged once); otherwise null. */
  readonly generated: string | null;
  /** Where the secret comes from, for the log. */
  readonly source: "environment" | "file" | "generated";
}

/**
 * The instructor secret: from the environment when set; else the hash in the data directory;
 * else a new secret, whose hash is written there (mode 0600) and which is returned once.
 */
export async function loadInstructorSecret(options: { fromEnvironment: string | undefined; dataDir: string }): Promise<InstructorSecret> {
  const file = path.join(options.dataDir, SECRET_FILE);
  let hash: SecretHash & { N?: number; r?: number; p?: number };
  let generated: string | null = null;
  let source: InstructorSecret["source"];
  if (options.fromEnvironment !== undefined) {
    if (options.fromEnvironment.length < MIN_SECRET_LENGTH) {
      throw new Error(`NSLAB_INSTRUCTOR_SECRET must be at least ${MIN_SECRET_LENGTH} characters; a shorter one can be guessed`);
    }
    const salt = randomBytes(16);
    hash = { salt, key: await hashSecret(options.fromEnvironment, salt) };
    source = "environment";
  } else if (fs.existsSync(file)) {
    hash = decode(fs.readFileSync(file, "utf8"), file);
    source = "file";
  } else {
    // 120 bits, in characters that survive being read off a terminal and typed again.
    generated = randomBytes(15).toString("base64url");
    const salt = randomBytes(16);
    hash = { salt, key: await hashSecret(generated, salt) };
    fs.mkdirSync(options.dataDir, { recursive: true, mode: 0o700 });
    // wx: two servers starting at once on one data directory must not each write their own.
    fs.writeFileSync(file, encode(hash), { mode: 0o600, flag: "wx" });
    source = "generated";
  }
  const cost = { N: hash.N ?? SCRYPT.N, r: hash.r ?? SCRYPT.r, p: hash.p ?? SCRYPT.p, maxmem: SCRYPT.maxmem };
  let running = 0;
  const waiting: Array<() => void> = [];
  return {
    generated,
    source,
    async verify(candidate: string): Promise<boolean> {
      if (typeof candidate !== "string" || candidate.length === 0 || candidate.length > 1024) return false;
      if (running >= MAX_CONCURRENT_CHECKS) {
        if (waiting.length >= MAX_WAITING_CHECKS) throw new LoginBusyError();
        await new Promise<void>((resolve) => waiting.push(resolve));
      }
      running++;
      try {
        const key = await scrypt(candidate, hash.salt, hash.key.length, cost);
        return timingSafeEqual(key, hash.key);
      } finally {
        running--;
        waiting.shift()?.();
      }
    },
  };
}

function tokenHash(token: string): string {
  return createHash("sha256").update(token).digest("hex");
}

/** The instructor's token in a Cookie header, if one is there. */
export function instructorToken(cookieHeader: string | undefined): string | null {
  return cookieValue(cookieHeader, INSTRUCTOR_COOKIE, /^[A-Za-z0-9_-]{43}$/);
}

/** The instructor's logins, kept in the store. */
export class InstructorSessions {
  constructor(
    private readonly store: InstructorSessionStore,
    private readonly lifetimeMs = INSTRUCTOR_SESSION_MS,
  ) {}

  /** A new login: the Set-Cookie header value that carries it. `secure`: the page came over
   *  HTTPS, so the cookie must never go out over plain HTTP. */
  async login(nowMs = Date.now(), secure = false): Promise<string> {
    const token = randomBytes(32).toString("base64url");
    await this.store.create(tokenHash(token), nowMs, nowMs + this.lifetimeMs);
    // Expired logins are forgotten now and then, not on every request.
    void this.store.prune(nowMs).catch(() => undefined);
    return `${INSTRUCTOR_COOKIE}=${token}; Path=/; Max-Age=${Math.floor(this.lifetimeMs / 1000)}; HttpOnly; SameSite=Strict${secure ? "; Secure" : ""}`;
  }

  /** Whether the request's cookie is a live login. */
  async check(cookieHeader: string | undefined, nowMs = Date.now()): Promise<boolean> {
    const token = instructorToken(cookieHeader);
    return token !== null && this.store.valid(tokenHash(token), nowMs);
  }

  /** Ends the request's login (if any); the Set-Cookie header value that clears the cookie. */
  async logout(cookieHeader: string | undefined, secure = false): Promise<string> {
    const token = instructorToken(cookieHeader);
    if (token) await this.store.revoke(tokenHash(token));
    return `${INSTRUCTOR_COOKIE}=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict${secure ? "; Secure" : ""}`;
  }
}

/** The address a limit is kept for: an IPv6 client by its /64 (one machine is usually given a
 *  whole /64, and would otherwise get a fresh budget from each of its addresses), an IPv4 one
 *  (also as ::ffff:a.b.c.d) by itself. */
export function clientKey(address: string | undefined): string {
  if (!address) return "unknown";
  const v4 = /^(?:::ffff:)?(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (v4?.[1]) return v4[1];
  if (!address.includes(":")) return address;
  const [head = "", tail] = address.split("%")[0]?.split("::") ?? [];
  const left = head ? head.split(":") : [];
  const right = tail !== undefined && tail !== "" ? tail.split(":") : [];
  const groups = tail === undefined ? left : [...left, ...Array<string>(Math.max(0, 8 - left.length - right.length)).fill("0"), ...right];
  return `${groups
    .slice(0, 4)
    .map((g) => (Number.parseInt(g || "0", 16) || 0).toString(16))
    .join(":")}::/64`;
}

/**
 * Attempts per client address: `burst` at once, then one per `refillMs`. Bounded: past
 * `maxClients` addresses the least recently seen is forgotten (a forgotten address starts
 * with a full budget, which costs an attacker one burst per eviction, not a way past it).
 */
export class AttemptLimiter {
  private readonly clients = new Map<string, { tokens: number; atMs: number }>();

  constructor(
    private readonly burst: number,
    private readonly refillMs: number,
    private readonly maxClients = 10_000,
  ) {}

  /** Takes one attempt for `client`; false when it has none left. */
  take(client: string, nowMs = Date.now()): boolean {
    const entry = this.clients.get(client) ?? { tokens: this.burst, atMs: nowMs };
    const tokens = Math.min(this.burst, entry.tokens + (nowMs - entry.atMs) / this.refillMs);
    this.clients.delete(client);
    const allowed = tokens >= 1;
    this.clients.set(client, { tokens: allowed ? tokens - 1 : tokens, atMs: nowMs });
    if (this.clients.size > this.maxClients) {
      const oldest = this.clients.keys().next().value;
      if (oldest !== undefined) this.clients.delete(oldest);
    }
    return allowed;
  }

  /** Whether `client` has an attempt left, without taking it. */
  available(client: string, nowMs = Date.now()): boolean {
    const entry = this.clients.get(client);
    return !entry || Math.min(this.burst, entry.tokens + (nowMs - entry.atMs) / this.refillMs) >= 1;
  }

  /** Seconds until `client` has an attempt again. */
  retryAfterS(client: string, nowMs = Date.now()): number {
    const entry = this.clients.get(client);
    if (!entry) return 0;
    const tokens = entry.tokens + (nowMs - entry.atMs) / this.refillMs;
    return tokens >= 1 ? 0 : Math.ceil(((1 - tokens) * this.refillMs) / 1000);
  }
}
