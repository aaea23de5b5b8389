import { describe, expect, it } from "vitest";
import { z } from "zod";

import { ClassList } from "../../common/classroom";
import { type Fetch, callApi, fieldMessage } from "./api";
import { makeDetail } from "./test-fixtures";

function answering(status: number, body: string, seen: Array<{ input: string; init?: RequestInit }> = []): Fetch {
  return async (input, init) => {
    seen.push({ input, init });
    return new Response(body, { status, headers: { "content-type": "application/json" } });
  };
}

describe("calling the classroom API", () => {
  it("parses a good answer with the contract's schema", async () => {
    const summary = makeDetail().class;
    const defaultLimits = { memoryBytes: 512 * 2 ** 20, memorySwapBytes: 512 * 2 ** 20, cpus: 1, pids: 200 };
    const result = await callApi("/api/classes", ClassList, { fetch: answering(200, JSON.stringify({ classes: [summary], defaultLimits })) });
    expect(result).toEqual({ ok: true, value: { classes: [summary], defaultLimits } });
  });

  it("sends JSON bodies as POST with the cookie's credentials", async () => {
    const seen: Array<{ input: string; init?: RequestInit }> = [];
    await callApi("/api/classes/x/broadcast", z.object({}), { body: { message: "hi" }, fetch: answering(200, "{}", seen) });
    expect(seen[0]?.init).toMatchObject({ method: "POST", credentials: "same-origin", body: '{"message":"hi"}' });
    expect(new Headers(seen[0]?.init?.headers).get("content-type")).toBe("application/json");
  });

  it("passes on the server's sentence and the field it names", async () => {
    const result = await callApi("/api/classes", ClassList, {
      body: {},
      fetch: answering(400, JSON.stringify({ error: "This host has only 2g of memory.", field: "limits.memoryBytes" })),
    });
    expect(result).toEqual({ ok: false, status: 400, message: "This host has only 2g of memory.", field: "limits.memoryBytes" });
  });

  it("explains an error answer that is not JSON by its status", async () => {
    const result = await callApi("/api/classes", ClassList, { fetch: answering(403, "<html>forbidden</html>") });
    expect(result).toMatchObject({ ok: false, status: 403, message: expect.stringMatching(/log in/i) });
  });

  it("refuses an answer of the wrong shape, naming where", async () => {
    const result = await callApi("/api/classes", ClassList, { fetch: answering(200, JSON.stringify({ classes: [{ id: 1 }] })) });
    expect(result).toMatchObject({ ok: false, status: 200, message: expect.stringMatching(/classes\.0\.id.*reload/) });
  });

  it("says so when the server cannot be reached", async () => {
    const result = await callApi("/api/classes", ClassList, {
      fetch: async () => {
        throw new TypeError("Failed to fetch");
      },
    });
    expect(result).toMatchObject({ ok: false, status: 0, message: expect.stringMatching(/did not answer/) });
  });
});

describe("a server message beside its control", () => {
  it("drops the field's name in front, which the label already says", () => {
    expect(fieldMessage("limits.cpus: too many CPUs.", "limits.cpus")).toBe("Too many CPUs.");
    expect(fieldMessage("This host has only 2g of memory.", "limits.memoryBytes")).toBe("This host has only 2g of memory.");
    expect(fieldMessage("name: x", null)).toBe("name: x");
  });
});
