import { type Page, type WebSocketRoute, expect, test } from "@playwright/test";

import { CloseCode, type ServerMessage, closeReason, parseClientMessage } from "../common/protocol";
import { sessionReady } from "./fixtures";

// A sandbox outlives its page's connection: a reload, a dropped connection and a second tab all
// come back to the same sandbox, against the real server and real sandboxes. The last two
// journeys use a stand-in server, for a sandbox that ended while the page was away.

const LESSON = "/lessons/containers-vs-vms";

/** The terminal's visible lines, as a person reads them (xterm's DOM renderer pads with spaces). */
async function terminalLines(page: Page): Promise<string[]> {
  const rows = await page.locator("[data-testid=terminal] .xterm-rows > div").allTextContents();
  return rows.map((row) => row.replace(/\u00a0/g, " ").trimEnd());
}

async function shows(page: Page, text: string | RegExp): Promise<void> {
  await expect
    .poll(async () => (await terminalLines(page)).some((line) => (typeof text === "string" ? line.includes(text) : text.test(line))), {
      message: `the terminal shows ${String(text)}`,
    })
    .toBe(true);
}

async function ready(page: Page): Promise<{ hostname: string; hostPid: string }> {
  await expect(page.getByTestId("lab-status")).toHaveText("ready", { timeout: 20_000 });
  return {
    hostname: (await page.getByTestId("sandbox-hostname").textContent()) ?? "",
    hostPid: (await page.getByTestId("sandbox-host-pid").textContent()) ?? "",
  };
}

async function typeLine(page: Page, line: string): Promise<void> {
  await page.getByTestId("terminal").click();
  await page.keyboard.type(line);
  await page.keyboard.press("Enter");
}

test("a reload comes back to the same sandbox with its screen, and another browser gets its own", async ({ page, browser }) => {
  await page.goto(LESSON);
  const before = await ready(page);
  expect(before.hostname).toMatch(/^lab-[0-9a-f]{6}$/);
  await typeLine(page, "echo before-reload");
  await shows(page, /^before-reload$/);

  await page.reload();
  const after = await ready(page);
  expect(after).toEqual(before);
  // The screen as it was: the command and its output, replayed from the server's copy.
  await shows(page, "echo before-reload");
  await shows(page, /^before-reload$/);
  await typeLine(page, "echo pid=$$");
  await shows(page, /^pid=1$/);

  const stranger = await browser.newContext();
  const other = await stranger.newPage();
  await other.goto(LESSON);
  const theirs = await ready(other);
  expect(theirs.hostname).not.toBe(before.hostname);
  await stranger.close();
});

test("a dropped connection says reconnecting and comes back to the same sandbox", async ({ page }) => {
  // Every socket goes through to the real server; the first one is cut as a lost network would.
  const routes: WebSocketRoute[] = [];
  await page.routeWebSocket(/\/ws$/, (ws) => {
    ws.connectToServer();
    routes.push(ws);
  });
  await page.goto(LESSON);
  const before = await ready(page);
  await typeLine(page, "sleep 600 & echo started-$!");
  await shows(page, /^started-\d+$/);

  // Every text the status line shows from here on, recorded in the page itself.
  await page.evaluate(() => {
    const status = document.querySelector("[data-testid=lab-status]");
    const seen: string[] = [];
    (window as unknown as { statusTexts: string[] }).statusTexts = seen;
    if (status) new MutationObserver(() => seen.push(status.textContent ?? "")).observe(status, { subtree: true, childList: true, characterData: true });
  });
  await routes[0]?.close({ code: 1001, reason: "network lost" });
  const after = await ready(page);
  const seen = await page.evaluate(() => (window as unknown as { statusTexts: string[] }).statusTexts);
  expect(seen.some((text) => text.startsWith("reconnecting…"))).toBe(true);
  expect(after).toEqual(before);
  expect(routes.length).toBeGreaterThanOrEqual(2);
  await shows(page, /^started-\d+$/);
  await typeLine(page, "jobs | grep -c 'sleep 600'");
  await shows(page, /^1$/);
});

test("a second tab takes the sandbox over, the first one watches, and Use it here takes it back", async ({ context }) => {
  const first = await context.newPage();
  await first.goto(LESSON);
  const sandbox = await ready(first);

  const second = await context.newPage();
  await second.goto(LESSON);
  expect(await ready(second)).toEqual(sandbox);
  const firstStatus = first.getByTestId("lab-status");
  await expect(firstStatus).toContainText("watching. This sandbox is now used in another tab");
  await typeLine(second, "echo typed-in-tab-two");
  await shows(first, /^typed-in-tab-two$/);
  // The watching tab cannot type, and its Run buttons say why.
  await expect(first.getByRole("button", { name: /^Run in your terminal/ }).first()).toBeDisabled();

  await first.getByRole("button", { name: "Use it here" }).click();
  expect(await ready(first)).toEqual(sandbox);
  await expect(second.getByTestId("lab-status")).toContainText("watching");
  await typeLine(first, "echo back-in-tab-one");
  await shows(second, /^back-in-tab-one$/);
});

/** A stand-in server's view of one page socket. */
function answer(ws: WebSocketRoute, onMessage: (message: ReturnType<typeof parseClientMessage> & { ok: true }) => void): void {
  ws.onMessage((frame) => {
    if (typeof frame !== "string") return;
    const parsed = parseClientMessage(frame);
    if (!parsed.ok) throw new Error(`the page sent an invalid frame: ${parsed.message}`);
    onMessage(parsed);
  });
}

test("a page whose sandbox ended while it was closed says so and starts a new one", async ({ page }) => {
  await page.addInitScript(() => {
    window.localStorage.setItem("nslab.session.containers-vs-vms", JSON.stringify({ sessionId: "00c0ffee00c0ffee", token: "T".repeat(43) }));
  });
  const asked: string[] = [];
  await page.routeWebSocket(/\/ws$/, (ws) => {
    answer(ws, ({ message }) => {
      asked.push(message.type);
      if (message.type === "session.resume") {
        ws.send(JSON.stringify({ type: "error", code: "session_gone", message: "Your sandbox was ended: Nobody reconnected within 120 s of the page closing, so the sandbox was ended." } satisfies ServerMessage));
      }
      if (message.type === "session.start") ws.send(JSON.stringify(sessionReady(2, { sessionId: "0000000000000001" })));
    });
  });
  await page.goto(LESSON);
  await expect(page.getByTestId("lab-status")).toContainText("ready. Your sandbox was ended: Nobody reconnected within 120 s");
  await expect(page.getByTestId("lab-status")).toContainText("This is a new sandbox.");
  expect(asked.slice(0, 2)).toEqual(["session.resume", "session.start"]);
  // The new sandbox's token is what the next reload resumes.
  expect(await page.evaluate(() => window.localStorage.getItem("nslab.session.containers-vs-vms"))).toContain("0000000000000001");
});

test("a reconnect that comes too late says the sandbox was ended, and offers a new one", async ({ page }) => {
  let sockets = 0;
  await page.routeWebSocket(/\/ws$/, (ws) => {
    sockets += 1;
    const socket = sockets;
    answer(ws, ({ message }) => {
      if (socket === 1 && message.type === "session.start") {
        ws.send(JSON.stringify(sessionReady(2, { reconnectGraceS: 1 })));
        setTimeout(() => void ws.close({ code: 1001 }), 200);
      }
      if (socket === 2 && message.type === "session.resume") {
        ws.send(JSON.stringify({ type: "error", code: "session_gone", message: "Your sandbox was ended: Nobody reconnected within 1 s of the page closing, so the sandbox was ended." } satisfies ServerMessage));
      }
      if (socket === 3 && message.type === "session.start") ws.send(JSON.stringify(sessionReady(2, { sessionId: "0000000000000002" })));
    });
  });
  await page.goto(LESSON);
  const status = page.getByTestId("lab-status");
  await expect(status).toContainText(closeReason[CloseCode.SessionGone]);
  await expect(status).toContainText("Nobody reconnected within 1 s");
  await page.getByRole("button", { name: "Start a new sandbox" }).click();
  await expect(status).toHaveText("ready");
  expect(sockets).toBe(3);
});

test("a page let go three times for falling behind stops reconnecting by itself and says why", async ({ page }) => {
  let sockets = 0;
  await page.routeWebSocket(/\/ws$/, (ws) => {
    sockets += 1;
    answer(ws, ({ message }) => {
      if (message.type !== "session.start" && message.type !== "session.resume") return;
      ws.send(JSON.stringify(sessionReady(2)));
      setTimeout(() => void ws.close({ code: CloseCode.FellBehind }), 100);
    });
  });
  await page.goto(LESSON);
  const status = page.getByTestId("lab-status");
  await expect(status).toContainText(closeReason[CloseCode.FellBehind], { timeout: 15_000 });
  await expect(page.getByRole("button", { name: "Reconnect" })).toBeVisible();
  // The first connection and two reconnects, then no more. Proving that none follows takes
  // waiting: a fourth would come within the backoff's second, so 1.5 s is enough.
  await page.waitForTimeout(1_500);
  expect(sockets).toBe(3);
});
