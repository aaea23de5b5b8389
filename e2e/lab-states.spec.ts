import { type Page, type WebSocketRoute, expect, test } from "@playwright/test";

import { type ClientMessage, CloseCode, PROTOCOL_VERSION, type ServerMessage, closeReason, parseClientMessage } from "../common/protocol";
import { sessionReady } from "./fixtures";

// The terminal panel against a stand-in for the lab server: Playwright answers the page's
// WebSocket itself, so states a real server rarely produces on demand (full, unreachable,
// ended) can be driven exactly. The pages themselves still come from the real server.

const LESSON = "/lessons/containers-vs-vms";

const ready = sessionReady(2);

/** What the page sent over one mocked socket: its JSON frames parsed, its binary frames as text. */
type PageFrames = { messages: ClientMessage[]; input: string[] };

function record(ws: WebSocketRoute, onMessage?: (message: ClientMessage) => void): PageFrames {
  const frames: PageFrames = { messages: [], input: [] };
  ws.onMessage((frame) => {
    if (typeof frame !== "string") {
      frames.input.push(frame.toString("utf8"));
      return;
    }
    const parsed = parseClientMessage(frame);
    if (!parsed.ok) throw new Error(`the page sent an invalid frame: ${parsed.message}`);
    frames.messages.push(parsed.message);
    onMessage?.(parsed.message);
  });
  return frames;
}

async function expectLessonReadable(page: Page): Promise<void> {
  await expect(page.getByRole("heading", { level: 1, name: "Containers vs VMs" })).toBeVisible();
  await expect(page.getByRole("heading", { level: 2, name: "Try it: look at your own container" })).toBeAttached();
}

test("a full lab is reported with the protocol's sentence and the server's message", async ({ page }) => {
  await page.routeWebSocket(/\/ws$/, (ws) => {
    record(ws, (message) => {
      if (message.type !== "session.start") return;
      ws.send(JSON.stringify({ type: "error", code: "lab_full", message: "All 50 sandboxes are in use." } satisfies ServerMessage));
      void ws.close({ code: CloseCode.LabFull });
    });
  });
  await page.goto(LESSON);

  const status = page.getByTestId("lab-status");
  await expect(status).toContainText(closeReason[CloseCode.LabFull]);
  await expect(status).toContainText("All 50 sandboxes are in use.");
  await expect(page.getByRole("button", { name: "Reconnect" })).toBeVisible();
  await expectLessonReadable(page);
});

test("an unreachable lab is named plainly, and Reconnect starts a session once it is back", async ({ page }) => {
  let labIsUp = false;
  await page.routeWebSocket(/\/ws$/, (ws) => {
    if (!labIsUp) {
      // What a browser reports when nothing answers: an abnormal closure, 1006.
      void ws.close({ code: 1006 });
      return;
    }
    record(ws, (message) => {
      if (message.type === "session.start") ws.send(JSON.stringify(ready));
    });
  });
  await page.goto(LESSON);

  const status = page.getByTestId("lab-status");
  await expect(status).toContainText("unreachable");
  await expectLessonReadable(page);

  labIsUp = true;
  await page.getByRole("button", { name: "Reconnect" }).click();
  await expect(status).toContainText("ready");
  await expect(page.getByTestId("sandbox-hostname")).toHaveText("lab-00c0ff");
  await expect(page.getByTestId("sandbox-host-pid")).toHaveText("31337");
});

test("the page speaks the protocol: start, keystrokes, acknowledgements and resizes", async ({ page }) => {
  const output = "hello from the lab\r\n";
  let frames: PageFrames | undefined;
  await page.routeWebSocket(/\/ws$/, (ws) => {
    frames = record(ws, (message) => {
      if (message.type !== "session.start") return;
      ws.send(JSON.stringify(ready));
      ws.send(Buffer.from(output, "utf8"));
    });
  });
  await page.setViewportSize({ width: 1280, height: 800 });
  await page.goto(LESSON);
  await expect(page.getByTestId("lab-status")).toContainText("ready");

  const sent = () => frames?.messages ?? [];
  const start = sent()[0];
  expect(start).toMatchObject({ type: "session.start", version: PROTOCOL_VERSION, lesson: "containers-vs-vms" });
  if (start?.type !== "session.start") throw new Error("the first frame was not session.start");

  // Output is drawn, then acknowledged with exactly its byte count.
  await expect(page.locator("[data-testid=terminal] .xterm-rows")).toContainText("hello from the lab");
  await expect
    .poll(() => sent().reduce((bytes, message) => bytes + (message.type === "pty.ack" ? message.bytes : 0), 0))
    .toBe(Buffer.byteLength(output));

  // Keystrokes go up as binary UTF-8, not as JSON.
  await page.getByTestId("terminal").click();
  await page.keyboard.type("ls ü");
  await expect.poll(() => frames?.input.join("")).toBe("ls ü");

  // A narrower window refits the terminal and tells the server its new size.
  await page.setViewportSize({ width: 1100, height: 700 });
  await expect
    .poll(() => sent().filter((message) => message.type === "pty.resize").at(-1)?.size.cols ?? start.size.cols)
    .toBeLessThan(start.size.cols);
});

test("the keyboard reaches the terminal, Tab completes in the shell, and Shift+Tab leaves it", async ({ page }) => {
  let frames: PageFrames | undefined;
  await page.routeWebSocket(/\/ws$/, (ws) => {
    frames = record(ws, (message) => {
      if (message.type === "session.start") ws.send(JSON.stringify(ready));
    });
  });
  await page.goto(LESSON);
  await expect(page.getByTestId("lab-status")).toContainText("ready");

  const terminalHasFocus = () =>
    page.evaluate(() => document.querySelector("[data-testid=terminal]")?.contains(document.activeElement) ?? false);

  // Tab through the page until focus lands in the terminal; the header, the lesson's links and
  // its Run and Copy buttons come first. The bound only stops a walk that never gets there.
  const focusable = await page.locator("a[href], button, input, textarea, [tabindex]:not([tabindex='-1'])").count();
  for (let presses = 0; presses <= focusable && !(await terminalHasFocus()); presses++) {
    await page.keyboard.press("Tab");
  }
  expect(await terminalHasFocus()).toBe(true);

  await page.keyboard.press("Tab");
  await expect.poll(() => frames?.input.join("")).toBe("\t");
  expect(await terminalHasFocus()).toBe(true);

  await page.keyboard.press("Shift+Tab");
  await expect.poll(terminalHasFocus).toBe(false);
  expect(frames?.input.join("")).toBe("\t");
});

test("after the shell exits the panel says how, and Start a new sandbox opens a new session", async ({ page }) => {
  let sessions = 0;
  await page.routeWebSocket(/\/ws$/, (ws) => {
    record(ws, (message) => {
      if (message.type !== "session.start") return;
      sessions += 1;
      ws.send(JSON.stringify(ready));
      if (sessions === 1) {
        ws.send(JSON.stringify({ type: "session.exit", exitCode: 0, signal: null } satisfies ServerMessage));
        void ws.close({ code: CloseCode.SessionEnded });
      }
    });
  });
  await page.goto(LESSON);

  const status = page.getByTestId("lab-status");
  await expect(status).toContainText(closeReason[CloseCode.SessionEnded]);
  await expect(status).toContainText("The shell exited with status 0.");

  await page.getByRole("button", { name: "Start a new sandbox" }).click();
  await expect(status).toContainText("ready");
  expect(sessions).toBe(2);
});
