import { type Page, expect, test } from "@playwright/test";

/** The terminal's visible lines, as a person reads them (xterm's DOM renderer pads with spaces). */
async function terminalLines(page: Page): Promise<string[]> {
  const rows = await page.locator("[data-testid=terminal] .xterm-rows > div").allTextContents();
  return rows.map((row) => row.replace(/\u00a0/g, " ").trimEnd());
}

test("a learner reads the first lesson and runs commands in their own sandbox", async ({ page }) => {
  await page.goto("/lessons/containers-vs-vms");
  await expect(page.getByRole("heading", { level: 1, name: "Containers vs VMs" })).toBeVisible();

  const status = page.getByTestId("lab-status");
  await expect(status).toContainText("ready", { timeout: 20_000 });
  await expect(page.getByTestId("sandbox-hostname")).toHaveText(/^lab-[0-9a-f]{6}$/);

  await page.getByTestId("terminal").click();
  await page.keyboard.type("echo $$; hostname");
  await page.keyboard.press("Enter");

  // The shell is pid 1 in its own pid namespace, and the uts namespace gives it the lab's name.
  await expect.poll(async () => (await terminalLines(page)).some((line) => line === "1")).toBe(true);
  await expect.poll(async () => (await terminalLines(page)).some((line) => /^lab-[0-9a-f]{6}$/.test(line))).toBe(true);

  // The name the shell prints is the one the panel's header shows.
  const hostname = await page.getByTestId("sandbox-hostname").textContent();
  expect(await terminalLines(page)).toContain(hostname);
});

test("the lesson text is in the page before any terminal code runs", async ({ browser }) => {
  const context = await browser.newContext({ javaScriptEnabled: false });
  const page = await context.newPage();
  await page.goto("/lessons/containers-vs-vms");
  await expect(page.getByRole("heading", { level: 1, name: "Containers vs VMs" })).toBeVisible();
  await expect(page.getByRole("heading", { level: 2, name: "Try it: look at your own container" })).toBeVisible();
  await expect(page.getByTestId("lab-status")).toContainText("Loading the terminal");
  await context.close();
});
