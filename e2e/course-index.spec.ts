import { expect, test } from "@playwright/test";

test("the course page lists the first lesson and links to it", async ({ page }) => {
  await page.goto("/");
  await expect(page.getByRole("heading", { level: 1, name: "Docker & Containerization" })).toBeVisible();

  const lessons = page.getByRole("list", { name: "Lessons" });
  const link = lessons.getByRole("link", { name: /Containers vs VMs/ });
  await expect(link).toBeVisible();
  await expect(link).toHaveAttribute("href", "/lessons/containers-vs-vms");
  await expect(link).toContainText("25 min read");

  await link.click();
  await expect(page).toHaveURL(/\/lessons\/containers-vs-vms$/);
  await expect(page.getByRole("heading", { level: 1, name: "Containers vs VMs" })).toBeVisible();
});

test("an unknown lesson is a 404 that leads back to the course", async ({ page }) => {
  const response = await page.goto("/lessons/no-such-lesson");
  expect(response?.status()).toBe(404);
  await expect(page.getByRole("heading", { name: "There is no such lesson" })).toBeVisible();
  await expect(page.getByRole("link", { name: "See all lessons" })).toHaveAttribute("href", "/");
});
