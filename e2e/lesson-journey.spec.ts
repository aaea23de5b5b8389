import { type Page, expect, test } from "@playwright/test";

// The first lesson as a learner goes through it, against the real server and a real sandbox:
// read, press Run on the namespace listing and see the kernel's answer in the terminal, do the
// lab steps one by one — each tick appears because the server saw it in the kernel, not
// because of what was typed — then reload and find the progress kept, on the lesson and on the
// course page.

const LESSON = "/lessons/containers-vs-vms";
const STEP_IDS = ["pid-namespace-depth-2", "net-namespace", "memory-limit-64m", "oom-kill"] as const;

/** The terminal's visible lines, as a person reads them (xterm's DOM renderer pads with spaces). */
async function terminalLines(page: Page): Promise<string[]> {
  const rows = await page.locator("[data-testid=terminal] .xterm-rows > div").allTextContents();
  return rows.map((row) => row.replace(/\u00a0/g, " ").trimEnd());
}

/** The terminal's rows joined, so that a line the terminal wrapped reads whole again. */
async function terminalText(page: Page): Promise<string> {
  return (await terminalLines(page)).join("");
}

function step(page: Page, id: string) {
  return page.getByTestId("lab-steps").locator(`[data-step-id="${id}"]`);
}

async function expectDone(page: Page, id: string, doneCount: number) {
  await expect(step(page, id)).toHaveAttribute("data-done", "true", { timeout: 15_000 });
  await expect(page.getByTestId("lab-steps-count")).toHaveText(`${doneCount} of ${STEP_IDS.length} done`);
}

test("a learner runs the lesson's commands, completes its lab steps, and keeps the progress", async ({ page }) => {
  test.setTimeout(120_000);
  await page.goto(LESSON);
  await expect(page.getByRole("heading", { level: 1, name: "Containers vs VMs" })).toBeVisible();
  await expect(page.getByTestId("lab-status")).toContainText("ready", { timeout: 20_000 });

  // A fresh learner: every step listed, none done.
  const steps = page.getByTestId("lab-steps");
  await expect(steps.getByRole("listitem")).toHaveCount(STEP_IDS.length);
  await expect(page.getByTestId("lab-steps-count")).toHaveText(`0 of ${STEP_IDS.length} done`);

  // Run the namespace listing from the lesson; the terminal shows the kernel's answer.
  await page.getByRole("button", { name: "Run in your terminal: ls -la /proc/$$/ns/" }).click();
  // (An interactive ls quotes the link targets, and a narrow terminal wraps long lines.)
  await expect.poll(async () => terminalText(page), { timeout: 10_000 }).toMatch(/pid_for_children -> '?pid:\[\d+\]/);

  // 1. A process two pid namespaces down.
  await page.getByRole("button", { name: /^Run in your terminal: unshare --pid --fork --mount-proc unshare/ }).click();
  await expectDone(page, "pid-namespace-depth-2", 1);
  await expect(page.getByTestId("lab-steps-announcement")).toContainText("Lab step done: Run a process two pid namespaces below");

  // 2. A process in a network namespace of its own, then a look inside it.
  await page.getByRole("button", { name: "Run in your terminal: unshare --net sleep 1000 &" }).click();
  await expectDone(page, "net-namespace", 2);
  await page.getByRole("button", { name: "Run in your terminal: nsenter --target $! --net ip addr" }).click();
  await expect.poll(async () => terminalText(page)).toMatch(/1: lo: <LOOPBACK> mtu \d+ qdisc noop state DOWN/);

  // 3. A child cgroup limited to 64 MiB. Run is offered only for this host's cgroup version.
  await page.getByRole("button", { name: /^Run in your terminal: mkdir -p \/sys\/fs\/cgroup\// }).click();
  await expectDone(page, "memory-limit-64m", 3);
  await expect.poll(async () => (await terminalLines(page)).includes("67108864")).toBe(true);

  // 4. The hog: Run only types a destructive command; nothing happens until Enter.
  await page.getByRole("button", { name: /^Type into your terminal, then press Enter yourself: sh -c 'echo \$\$ > / }).click();
  await expect.poll(async () => terminalText(page)).toContain("exec tail /dev/zero'");
  await expect(step(page, "oom-kill")).toHaveAttribute("data-done", "false");
  await page.keyboard.press("Enter");
  await expect.poll(async () => (await terminalLines(page)).some((line) => /Killed/.test(line)), { timeout: 20_000 }).toBe(true);
  await expectDone(page, "oom-kill", 4);

  // The shell survived the kill: it still answers.
  await page.getByRole("button", { name: "Run in your terminal: echo $?" }).click();
  await expect.poll(async () => (await terminalLines(page)).includes("137")).toBe(true);

  // Reload: the progress is the server's, kept for this learner.
  await page.reload();
  for (const id of STEP_IDS) await expect(step(page, id)).toHaveAttribute("data-done", "true", { timeout: 15_000 });
  await expect(page.getByTestId("lab-steps-count")).toHaveText(`${STEP_IDS.length} of ${STEP_IDS.length} done`);
  // Progress known before this page opened is shown, not announced again.
  await expect(page.getByTestId("lab-status")).toContainText("ready", { timeout: 20_000 });
  await expect(page.getByTestId("lab-steps-announcement")).toHaveText("");

  // And the course page counts it.
  await page.goto("/");
  await expect(page.getByTestId("lesson-progress-containers-vs-vms")).toContainText(`${STEP_IDS.length} of ${STEP_IDS.length} lab steps done`);
});

test("the live diagrams show the learner's own sandbox", async ({ page }) => {
  await page.goto(LESSON);
  await expect(page.getByTestId("lab-status")).toContainText("ready", { timeout: 20_000 });
  const hostPid = (await page.getByTestId("sandbox-host-pid").textContent())?.trim() ?? "";
  expect(hostPid).toMatch(/^\d+$/);

  const stack = page.getByTestId("stack-diagram");
  await expect(stack).toHaveAttribute("data-mode", "live");
  await expect(stack.locator('[data-layer-id="c0-app"]')).toHaveAttribute("aria-label", new RegExp(`host pid ${hostPid}`));
  // The kernel inside is the host's: what uname -r prints in the terminal is what the diagram says.
  await page.getByRole("button", { name: "Run in your terminal: echo $$; hostname; uname -r" }).click();
  await expect.poll(async () => (await terminalLines(page)).some((line) => /^\d+\.\d+\.\d+/.test(line))).toBe(true);
  const release = (await terminalLines(page)).find((line) => /^\d+\.\d+\.\d+/.test(line)) ?? "";
  await expect(stack.locator('[data-layer-id="c-kernel"]')).toHaveAttribute("aria-label", new RegExp(`Linux ${release.replace(/[.+]/g, "\\$&")}`));
  await expect(page.getByTestId("stack-memory")).toHaveText(/MiB of 256 MiB$/, { timeout: 10_000 });

  await expect(page.getByTestId("startup-timeline")).toHaveAttribute("data-mode", "live");
  await expect(page.getByTestId("startup-timeline")).toContainText("Your sandbox started in");
  await expect(page.getByTestId("density-estimate")).toHaveAttribute("data-mode", "live", { timeout: 10_000 });
  await expect(page.getByTestId("density-containers")).toHaveText(/^[\d,]+$/);
});
