import { type Page, type WebSocketRoute, expect, test } from "@playwright/test";

import type { SnapshotDelta } from "../common/lab-state";
import { type ClientMessage, type ServerMessage, parseClientMessage } from "../common/protocol";
import { sessionReady } from "./fixtures";
import { MiB, SANDBOX_NAMESPACES, T0, process, snapshot } from "../components/lab/test-fixtures";

// The live views against a stand-in for the lab server (Playwright answers the page's
// WebSocket), so that the stream's content and the server's answers are exactly known: what
// the page asks for, and what it shows for each thing it is told.

const LESSON = "/lessons/containers-vs-vms";

const ready = sessionReady(1, { sessionId: "0123456789abcdef", hostPid: 48213 });

type Lab = { messages: ClientMessage[]; ws: WebSocketRoute | null };

/** Answers session.start with `ready`, and hands every other frame to `onMessage`. */
async function mockLab(page: Page, onMessage?: (message: ClientMessage, ws: WebSocketRoute) => void): Promise<Lab> {
  const lab: Lab = { messages: [], ws: null };
  await page.routeWebSocket(/\/ws$/, (ws) => {
    lab.ws = ws;
    ws.onMessage((frame) => {
      if (typeof frame !== "string") return;
      const parsed = parseClientMessage(frame);
      if (!parsed.ok) throw new Error(`the page sent an invalid frame: ${parsed.message}`);
      lab.messages.push(parsed.message);
      if (parsed.message.type === "session.start") ws.send(JSON.stringify(ready));
      else onMessage?.(parsed.message, ws);
    });
  });
  return lab;
}

function sendDelta(ws: WebSocketRoute | null, delta: SnapshotDelta): void {
  if (!ws) throw new Error("the page has not connected");
  ws.send(JSON.stringify({ type: "state.delta", delta } satisfies ServerMessage));
}

async function setVisibility(page: Page, state: "visible" | "hidden"): Promise<void> {
  await page.evaluate((visibility) => {
    Object.defineProperty(document, "visibilityState", { configurable: true, get: () => visibility });
    document.dispatchEvent(new Event("visibilitychange"));
  }, state);
}

const watches = (lab: Lab) => lab.messages.flatMap((m) => (m.type === "state.watch" ? [m.watch] : []));

test("the page watches kernel state while the session is ready and the page is visible", async ({ page }) => {
  const lab = await mockLab(page);
  await page.goto(LESSON);
  await expect(page.getByTestId("lab-status")).toContainText("ready");
  await expect.poll(() => watches(lab)).toEqual([true]);

  await setVisibility(page, "hidden");
  await expect.poll(() => watches(lab)).toEqual([true, false]);
  await setVisibility(page, "visible");
  await expect.poll(() => watches(lab)).toEqual([true, false, true]);
});

test("the inspector groups processes by namespace as the stream reports them", async ({ page }) => {
  const lab = await mockLab(page);
  await page.goto(LESSON);
  await expect.poll(() => watches(lab)).toEqual([true]);

  const shell = process(48213, [48213, 1], "bash");
  sendDelta(lab.ws, { kind: "full", snapshot: snapshot(T0, {}, [shell]) });
  const inspector = page.getByTestId("ns-inspector");
  await expect(inspector.getByTestId("ns-host-net")).toHaveText("4026531840");
  await expect(inspector.getByTestId("ns-sandbox-net")).toHaveText(String(SANDBOX_NAMESPACES.net));
  await expect(inspector.getByTestId("ns-row-time")).toHaveAttribute("data-relation", "shared");
  await expect(inspector.getByTestId("ns-group")).toHaveCount(1);

  // unshare --net sh: a new process in a new net namespace.
  const netShell = process(48301, [48301, 9], "sh", { ...SANDBOX_NAMESPACES, net: 4026533000 }, 48213);
  sendDelta(lab.ws, { kind: "change", takenAtMs: T0 + 100, processes: { added: [netShell], changed: [], removed: [] } });
  const newGroup = inspector.locator("[data-testid=ns-group][data-sandbox=false]");
  await expect(newGroup.getByTestId("ns-group-net")).toHaveText("net:[4026533000]");
  await expect(newGroup.getByRole("row", { name: /48301/ })).toContainText("48301 → 9");

  // exit: the process and its group are gone.
  sendDelta(lab.ws, { kind: "change", takenAtMs: T0 + 200, processes: { added: [], changed: [], removed: [48301] } });
  await expect(newGroup).toHaveCount(0);
});

test("the resource charts draw the stream, each with its numbers as text", async ({ page }) => {
  const lab = await mockLab(page);
  await page.goto(LESSON);
  await expect.poll(() => watches(lab)).toEqual([true]);
  await page.getByRole("tab", { name: "Resources" }).click();

  sendDelta(lab.ws, { kind: "full", snapshot: snapshot(T0, { usageBytes: 40 * MiB, pidsCurrent: 3, usageNs: 1e9 }) });
  sendDelta(lab.ws, { kind: "change", takenAtMs: T0 + 500, cgroup: { memory: { oomKillCount: { value: 1 } }, cpu: { usageNs: { value: 1.25e9 } } } });

  await expect(page.getByTestId("memory-readings")).toContainText("40 MiB");
  await expect(page.getByTestId("memory-readings").getByRole("row", { name: /OOM kills seen/ })).toContainText("1");
  await expect(page.getByTestId("pids-readings").getByRole("row", { name: /^Now/ })).toContainText("3");
  await expect(page.getByTestId("cpu-readings").getByRole("row", { name: /^In use/ })).toContainText("0.50 CPU");
  await expect(page.getByTestId("oom-announcement")).toContainText("out of memory");

  const memoryChart = page.getByRole("img", { name: /Memory in use/ });
  await expect(memoryChart.locator("[data-mark=oom]")).toHaveCount(1);
  await expect(memoryChart.locator("[data-mark=limit-label]")).toHaveText("limit 256 MiB");
  // Fixed height: the box is the same before and after the data.
  expect((await memoryChart.boundingBox())?.height).toBe(120);
});

test("the limits panel checks values at the control, sends only valid changes, and shows the server's refusal at its field", async ({
  page,
}) => {
  const lab = await mockLab(page, (message, ws) => {
    if (message.type !== "limits.update") return;
    if (message.limits.memoryBytes === 8 * MiB) {
      ws.send(
        JSON.stringify({
          type: "error",
          code: "bad_limit",
          message: "The sandbox uses more memory than that right now.",
          field: "memoryBytes",
          requestId: message.requestId,
        } satisfies ServerMessage),
      );
      return;
    }
    const limits = { ...ready.limits, ...message.limits };
    ws.send(
      JSON.stringify({
        type: "limits.updated",
        requestId: message.requestId,
        limits,
        cgroupFiles: [{ flag: "--memory", file: "memory/memory.limit_in_bytes", value: String(limits.memoryBytes) }],
      } satisfies ServerMessage),
    );
  });
  await page.goto(LESSON);
  await expect(page.getByTestId("lab-status")).toContainText("ready");
  await page.getByRole("tab", { name: "Limits" }).click();

  const memory = page.getByTestId("limit-memoryBytes");
  const memoryInput = memory.getByRole("textbox");
  await expect(memoryInput).toHaveValue("256m");
  await expect(memory.getByTestId("cgroup-file")).toHaveText("memory/memory.limit_in_bytes = 268435456");
  const apply = page.getByRole("button", { name: "Apply" });
  const updates = () => lab.messages.filter((m) => m.type === "limits.update");

  // Not a size: the message is at the control, read with it, and nothing is sent.
  await memoryInput.fill("lots");
  await apply.click();
  const error = memory.getByTestId("limit-error-memoryBytes");
  await expect(error).toContainText("Not a size");
  await expect(memoryInput).toHaveAttribute("aria-invalid", "true");
  const describedBy = (await memoryInput.getAttribute("aria-describedby")) ?? "";
  expect(describedBy.split(" ")).toContain(await error.getAttribute("id"));
  await expect(memoryInput).toBeFocused();

  // Above memory-swap: docker's rule, at the memory-swap control.
  await memoryInput.fill("512m");
  await apply.click();
  await expect(page.getByTestId("limit-error-memorySwapBytes")).toContainText("cannot be below --memory");

  // Above the host.
  await memoryInput.fill("8g");
  await page.getByTestId("limit-memorySwapBytes").getByRole("textbox").fill("8g");
  await apply.click();
  await expect(page.getByTestId("limit-error-memoryBytes")).toContainText("This host has only 4g of memory.");
  expect(updates()).toEqual([]);

  // The server refuses: its sentence at the field it names.
  await page.getByTestId("limit-memorySwapBytes").getByRole("textbox").fill("256m");
  await memoryInput.fill("8m");
  await memoryInput.press("Enter");
  await expect(page.getByTestId("limit-error-memoryBytes")).toHaveText("The sandbox uses more memory than that right now.");
  expect(updates()).toEqual([
    { type: "limits.update", requestId: expect.stringMatching(/^[A-Za-z0-9_-]+$/), sessionId: ready.sessionId, limits: { memoryBytes: 8 * MiB } },
  ]);

  // Accepted: the new value, where it went, and the command it stands for.
  await memoryInput.fill("64m");
  await memoryInput.press("Enter");
  await expect(page.getByTestId("limits-outcome")).toHaveText(
    "docker update --memory 64m lab-00c0ff: wrote 67108864 to memory/memory.limit_in_bytes.",
  );
  await expect(memory.getByTestId("cgroup-file")).toHaveText("memory/memory.limit_in_bytes = 67108864");
  await expect(page.getByTestId("limit-error-memoryBytes")).toHaveCount(0);
  await expect(page.getByTestId("lab-status")).toHaveText("ready");
});

test("the lesson's Run buttons type into the terminal through the lab, with Enter only where they run", async ({ page }) => {
  const input: string[] = [];
  await page.routeWebSocket(/\/ws$/, (ws) => {
    ws.onMessage((frame) => {
      if (typeof frame !== "string") {
        input.push(frame.toString("utf8"));
        return;
      }
      const parsed = parseClientMessage(frame);
      if (parsed.ok && parsed.message.type === "session.start") ws.send(JSON.stringify(ready));
    });
  });
  await page.goto(LESSON);
  await expect(page.getByTestId("lab-status")).toContainText("ready");

  // A block of several lines is named with its lines joined by "; ", and each line is typed and
  // submitted on its own: either way, the keystrokes read as the name's command line by line.
  const run = page.getByRole("button", { name: /^Run in your terminal: / }).first();
  const command = ((await run.getAttribute("aria-label")) ?? "").replace(/^Run in your terminal: /, "");
  expect(command).not.toBe("");
  await run.click();
  await expect.poll(() => input.join("").replaceAll("\r", "; ")).toBe(`${command}; `);
  // The terminal has the focus, so the learner can go on typing.
  await expect.poll(() => page.evaluate(() => document.querySelector("[data-testid=terminal]")?.contains(document.activeElement) ?? false)).toBe(true);

  const typeOnly = page.getByRole("button", { name: /^Type into your terminal, then press Enter yourself: / }).first();
  if ((await typeOnly.count()) === 0) return;
  const typed = input.join("").length;
  await typeOnly.click();
  await expect.poll(() => input.join("").length).toBeGreaterThan(typed);
  expect(input.join("").slice(typed)).not.toContain("\r");
});

test("a keyboard user can skip the lesson's buttons and land in the terminal", async ({ page }) => {
  await mockLab(page);
  await page.goto(LESSON);
  await expect(page.getByTestId("lab-status")).toContainText("ready");
  const skip = page.getByRole("link", { name: "Skip to the lab" });
  for (let presses = 0; presses < 10 && !(await skip.evaluate((link) => link === document.activeElement)); presses++) {
    await page.keyboard.press("Tab");
  }
  await expect(skip).toBeFocused();
  await page.keyboard.press("Enter");
  // From the lab's top: the screen-reader toggle, the link past the terminal, the terminal.
  await page.keyboard.press("Tab");
  await expect(page.getByTestId("screen-reader-mode")).toBeFocused();
  await page.keyboard.press("Tab");
  await expect(page.getByRole("link", { name: "Skip past the terminal to the live views" })).toBeFocused();
  await page.keyboard.press("Tab");
  await expect.poll(() => page.evaluate(() => document.querySelector("[data-testid=terminal]")?.contains(document.activeElement) ?? false)).toBe(true);
});

test("a keyboard user can get past the terminal going forwards, and turn on screen-reader mode", async ({ page }) => {
  await mockLab(page);
  await page.goto(LESSON);
  await expect(page.getByTestId("lab-status")).toContainText("ready");
  const past = page.getByRole("link", { name: "Skip past the terminal to the live views" });
  await past.focus();
  await page.keyboard.press("Enter");
  await expect(page.locator("#live-views")).toBeFocused();
  await page.keyboard.press("Tab");
  await expect(page.getByRole("tab", { name: "Namespaces" })).toBeFocused();

  // xterm.js keeps an accessible copy of the output only in screen-reader mode; the choice is kept.
  await page.getByTestId("screen-reader-mode").check();
  await expect(page.locator(".xterm-accessibility")).toHaveCount(1);
  await page.reload();
  await expect(page.getByTestId("screen-reader-mode")).toBeChecked();
});
