import { type Page, expect, test } from "@playwright/test";

import { CloseCode, type ServerMessage } from "../common/protocol";
import { sessionReady } from "./fixtures";

// The first lesson's diagrams and engine pieces where the lab is not what it should be — full,
// unreachable — and where it is a stand-in that says exactly what a test needs (Playwright
// answers the page's WebSocket). The pages come from the real server.

const LESSON = "/lessons/containers-vs-vms";

const ready = sessionReady(2, {
  host: { cpus: 2, memoryBytes: 4 * 1024 * 1024 * 1024, kernelRelease: "6.18.0-test" },
  startup: [
    { step: "start", atMs: 0.2 },
    { step: "clone", atMs: 1.5 },
    { step: "cgroup", atMs: 3.0 },
    { step: "exec", atMs: 4.2 },
  ],
});

async function labFull(page: Page) {
  await page.routeWebSocket(/\/ws$/, (ws) => {
    ws.onMessage(() => {
      ws.send(JSON.stringify({ type: "error", code: "lab_full", message: "All sandboxes are in use." } satisfies ServerMessage));
      void ws.close({ code: CloseCode.LabFull });
    });
  });
}

async function stubLab(page: Page, input: string[]) {
  await page.routeWebSocket(/\/ws$/, (ws) => {
    ws.onMessage((frame) => {
      if (typeof frame !== "string") {
        input.push(frame.toString("utf8"));
        return;
      }
      const message = JSON.parse(frame) as { type: string };
      if (message.type === "session.start") ws.send(JSON.stringify(ready));
    });
  });
}

test("with the lab full, the diagrams draw reference figures, marked as such", async ({ page }) => {
  await labFull(page);
  await page.goto(LESSON);
  await expect(page.getByTestId("lab-status")).toContainText("full");
  for (const id of ["stack-diagram", "startup-timeline", "density-estimate"]) {
    const figure = page.getByTestId(id);
    await expect(figure).toHaveAttribute("data-mode", "reference");
    await expect(figure.getByTestId("diagram-mode")).toHaveText("reference, not live");
  }
  await expect(page.getByTestId("startup-timeline")).toContainText("A sandbox starts in about 17 ms");
  await expect(page.getByTestId("density-containers")).toHaveText("150");
  await expect(page.getByTestId("density-vms")).toHaveText("5");
  // Run waits for a sandbox rather than typing into nothing; Copy still works.
  await expect(page.getByRole("button", { name: "Run in your terminal: ls -la /proc/$$/ns/" })).toBeDisabled();
  // No progress without the lab or the store: the steps are listed, none ticked.
  await expect(page.getByTestId("lab-steps").getByRole("listitem")).toHaveCount(4);
});

test("every layer of the stacks explains itself on keyboard focus and on hover", async ({ page }) => {
  await labFull(page);
  await page.goto(LESSON);
  const detail = page.getByTestId("stack-layer-detail");
  const hypervisor = page.locator('[data-layer-id="vm-hypervisor"]');
  await hypervisor.focus();
  await expect(hypervisor).toBeFocused();
  await expect(detail).toContainText("The wall between tenants");
  await page.keyboard.press("Tab");
  await expect(detail).toContainText("Guest OS + kernel");
  await page.locator('[data-layer-id="c-kernel"]').hover();
  await expect(detail).toContainText("Host kernel (shared)");
});

test("with a live session, the container side is the learner's sandbox and Run types into it", async ({ page }) => {
  const input: string[] = [];
  await stubLab(page, input);
  await page.goto(LESSON);
  await expect(page.getByTestId("lab-status")).toContainText("ready");

  const stack = page.getByTestId("stack-diagram");
  await expect(stack).toHaveAttribute("data-mode", "live");
  await expect(stack.locator('[data-layer-id="c0-app"]')).toHaveAttribute("aria-label", /pid 1 · host pid 31337/);
  await expect(stack.locator('[data-layer-id="c-kernel"]')).toHaveAttribute("aria-label", /Linux 6\.18\.0-test — the same inside and out/);
  await expect(page.getByTestId("startup-timeline")).toContainText("Your sandbox started in 4.2 ms");
  await expect(page.getByTestId("limit-files-live")).toContainText("memory.swap.max");

  // This host is cgroup v2: v2 blocks offer Run, v1 blocks say why they do not.
  await expect(page.getByRole("button", { name: /^Run in your terminal: cat \/sys\/fs\/cgroup\/memory\.max/ })).toBeEnabled();
  await expect(page.getByRole("button", { name: /^Run in your terminal: cat \/sys\/fs\/cgroup\/memory\/memory\.limit_in_bytes/ })).toHaveCount(0);
  await expect(page.getByText("This host runs cgroup v2: use the block for v2.").first()).toBeVisible();

  // Run presses Enter for a harmless command; Type never does for a destructive one.
  await page.getByRole("button", { name: "Run in your terminal: ls -la /proc/$$/ns/" }).click();
  await expect.poll(() => input.join("")).toContain("ls -la /proc/$$/ns/\r");
  await page.getByRole("button", { name: /^Type into your terminal, then press Enter yourself: sh -c 'echo \$\$ > \/sys\/fs\/cgroup\/hog/ }).click();
  await expect.poll(() => input.join("")).toContain("exec tail /dev/zero'");
  expect(input.join("")).not.toMatch(/exec tail \/dev\/zero'\r/);
});

test("the course page shows nothing extra when progress cannot be had", async ({ page }) => {
  await page.route("**/api/progress", (route) => route.fulfill({ status: 500, body: "no" }));
  await page.goto("/");
  await expect(page.getByRole("link", { name: /Containers vs VMs/ })).toBeVisible();
  await expect(page.getByTestId("lesson-progress-containers-vs-vms")).toHaveCount(0);
});

test("the stacks sit side by side on a laptop and one above the other on a phone", async ({ page }) => {
  await labFull(page);
  await page.setViewportSize({ width: 1280, height: 900 });
  await page.goto(LESSON);
  const vm = page.getByTestId("stack-vm");
  const container = page.getByTestId("stack-container");
  await expect(vm).toBeVisible();
  let [a, b] = [await vm.boundingBox(), await container.boundingBox()];
  expect(Math.abs((a?.y ?? 0) - (b?.y ?? 1))).toBeLessThan(40);
  expect(b?.x ?? 0).toBeGreaterThan((a?.x ?? 0) + (a?.width ?? 0) - 1);

  await page.setViewportSize({ width: 390, height: 844 });
  await expect.poll(async () => ((await container.boundingBox())?.y ?? 0) > ((await vm.boundingBox())?.y ?? 0) + 100).toBe(true);
  [a, b] = [await vm.boundingBox(), await container.boundingBox()];
  // Nothing of the figure spills past the phone's width.
  expect((a?.x ?? 0) + (a?.width ?? 0)).toBeLessThanOrEqual(390);
  expect((b?.x ?? 0) + (b?.width ?? 0)).toBeLessThanOrEqual(390);
});
