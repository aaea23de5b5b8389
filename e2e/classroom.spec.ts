import { type Browser, type BrowserContext, type Locator, type Page, expect, test } from "@playwright/test";

import { joinRefusalText } from "../common/classroom";
import { ClassroomServer, memoryLimitFile } from "./classroom-server";
import { freePort } from "./free-port";

// The classroom as its people use it: an instructor who logs in, makes a class and runs it from
// the dashboard, and three learners who join it by code or by link and work in real sandboxes.
// Against a server of these journeys' own (classroom-server.ts), because one of them restarts
// it. The journeys build on each other — the class, its learners and their progress carry from
// one to the next — so they run in order.

const SECRET = "e2e classroom secret";
const LESSON = "containers-vs-vms";
const LESSON_PATH = `/lessons/${LESSON}`;
const CLASS_NAME = "Tuesday group";
const ADA = "Ada";
const BO = "Bo";
// A name that is markup: the class must show it as the text it is, and never run it.
const EVE = '<img src=x onerror="window.__xss=1">Eve';
/** The lab step `unshare -n sleep 600 &` completes: a process in a network namespace of its own. */
const NET_STEP = "net-namespace";
const MiB = 1024 * 1024;
/** Something no earlier screen could already hold. */
const run = Math.random().toString(36).slice(2, 8);

const server = new ClassroomServer({ port: freePort(), instructorSecret: SECRET });
const contexts: BrowserContext[] = [];
let teacher: Page;
let ada: Page;
let bo: Page;
let eve: Page;
let classId = "";
let joinCode = "";
/** Member ids by name, as the dashboard's cards carry them. */
const memberIds = new Map<string, string>();

async function newPage(browser: Browser): Promise<Page> {
  const context = await browser.newContext({ baseURL: server.baseURL });
  contexts.push(context);
  return context.newPage();
}

/** The terminal's visible lines, as a person reads them (xterm's DOM renderer pads with spaces). */
async function terminalLines(terminal: Locator): Promise<string[]> {
  const rows = await terminal.locator(".xterm-rows > div").allTextContents();
  return rows.map((row) => row.replace(/\u00a0/g, " ").trimEnd());
}

async function shows(terminal: Locator, text: string | RegExp, timeout = 10_000): Promise<void> {
  await expect
    .poll(async () => (await terminalLines(terminal)).some((line) => (typeof text === "string" ? line.includes(text) : text.test(line))), {
      message: `the terminal shows ${String(text)}`,
      timeout,
    })
    .toBe(true);
}

async function typeLine(page: Page, line: string): Promise<void> {
  await page.getByTestId("terminal").click();
  await page.keyboard.type(line);
  await page.keyboard.press("Enter");
}

/** Runs `hostname` in the learner's shell and reads its answer. */
async function shellHostname(page: Page, not?: string): Promise<string> {
  await typeLine(page, "hostname");
  let found = "";
  await expect
    .poll(async () => {
      const names = (await terminalLines(page.getByTestId("terminal"))).filter((line) => /^lab-[0-9a-f]{6}$/.test(line) && line !== not);
      found = names.at(-1) ?? "";
      return found;
    }, { message: "the shell prints its hostname" })
    .not.toBe("");
  return found;
}

async function ready(page: Page): Promise<void> {
  await expect(page.getByTestId("lab-status")).toHaveText(/^ready\b/, { timeout: 30_000 });
}

function card(name: string): Locator {
  const memberId = memberIds.get(name);
  if (!memberId) throw new Error(`no card was seen for ${name}`);
  return teacher.locator(`[data-testid=learner-card][data-member-id="${memberId}"]`);
}

/** The join form's refusal (the page's own alert, not Next's route announcer). */
function refusal(page: Page): Locator {
  return page.getByRole("main").getByRole("alert");
}

/** What one learner does to join on their own device: the page, the name, the button. */
async function join(page: Page, how: { code: string } | { link: string }, name: string): Promise<void> {
  if ("code" in how) {
    await page.goto("/join");
    await page.getByLabel("Class code").fill(how.code);
  } else {
    await page.goto(how.link);
  }
  await page.getByLabel("Your name").fill(name);
  await page.getByRole("button", { name: "Join the class" }).click();
}

test.describe.configure({ mode: "serial" });

test.beforeAll(async ({ browser }) => {
  test.setTimeout(90_000);
  await server.start();
  [teacher, ada, bo, eve] = await Promise.all([newPage(browser), newPage(browser), newPage(browser), newPage(browser)]);
});

test.afterAll(async () => {
  test.setTimeout(60_000);
  for (const context of contexts) await context.close();
  // null: it was not running (it failed to start, which beforeAll has reported).
  const code = await server.stop();
  const left = server.cleanUp();
  if (code !== null) expect(code, `the server's exit code after SIGTERM; its log:\n${server.log()}`).toBe(0);
  expect(left, "cgroups this server left behind").toEqual([]);
});

test("the instructor makes a class and three learners join it by code and by link, names shown as text", async () => {
  test.setTimeout(120_000);
  await teacher.goto("/teach");
  await teacher.getByLabel("Instructor secret").fill(SECRET);
  await teacher.getByRole("button", { name: "Log in" }).click();
  const form = teacher.getByTestId("create-class-form");
  await form.getByLabel("Name", { exact: true }).fill(CLASS_NAME);
  await form.getByLabel("Lesson").selectOption(LESSON);
  await form.getByRole("button", { name: "Create the class" }).click();

  await expect(teacher).toHaveURL(/\/teach\/classes\/[0-9a-f]{16}$/);
  classId = new URL(teacher.url()).pathname.split("/").at(-1) ?? "";
  await expect(teacher.getByTestId("join-code")).toHaveText(/^[A-HJKMNP-Z2-9]{6}$/);
  joinCode = (await teacher.getByTestId("join-code").textContent()) ?? "";
  await expect(teacher.getByTestId("join-link")).toHaveText(`${server.baseURL}/join/${joinCode}`);
  await expect(teacher.getByTestId("stream-status")).toHaveAttribute("data-connection", "open");

  // Typed as a person might copy it from a projector: lower case, with a dash.
  const typed = `${joinCode.slice(0, 3).toLowerCase()}-${joinCode.slice(3).toLowerCase()}`;
  await Promise.all([
    join(ada, { code: typed }, ADA),
    join(bo, { link: `/join/${joinCode}` }, BO),
    (async () => {
      await eve.goto(`/join/${joinCode}`);
      // The link's page shows the code it is for, and asks only for the name.
      await expect(eve.getByTestId("join-page-code")).toHaveText(joinCode);
      await expect(eve.getByLabel("Class code")).toHaveCount(0);
      await eve.getByLabel("Your name").fill(EVE);
      await eve.getByRole("button", { name: "Join the class" }).click();
    })(),
  ]);
  for (const [page, name] of [[ada, ADA], [bo, BO], [eve, EVE]] as const) {
    await expect(page).toHaveURL(LESSON_PATH);
    await expect(page.getByTestId("terminal")).toBeVisible();
    await ready(page);
    await expect(page.getByTestId("class-banner")).toHaveText(`Class: ${CLASS_NAME} · you are ${name}`);
  }

  const cards = teacher.getByTestId("learner-card");
  await expect(cards).toHaveCount(3);
  const seen = await cards.evaluateAll((elements) =>
    elements.map((element) => [element.querySelector("h3 button > span")?.textContent ?? "", (element as HTMLElement).dataset.memberId ?? ""] as const),
  );
  for (const [name, memberId] of seen) memberIds.set(name, memberId);
  expect([...memberIds.keys()].sort()).toEqual([ADA, BO, EVE].sort());
  await expect(teacher.getByTestId("class-learners")).toHaveText("3 / 40");
  for (const name of [ADA, BO, EVE]) await expect(card(name)).toHaveAttribute("data-status", "connected");
  await expect(teacher.getByTestId("class-live")).toHaveText("3");

  // Eve's name is text everywhere it shows: no element was made of it, and nothing of it ran.
  expect(await card(EVE).locator("h3 button > span").first().textContent()).toBe(EVE);
  await expect(card(EVE).locator("img")).toHaveCount(0);
  expect(await eve.getByTestId("class-banner").textContent()).toContain(`you are ${EVE}`);
  await expect(eve.getByTestId("class-banner").locator("img")).toHaveCount(0);
  for (const page of [teacher, eve]) expect(await page.evaluate(() => (window as { __xss?: unknown }).__xss)).toBeUndefined();
});

test("a lab step a learner does ticks on their card", async () => {
  test.setTimeout(60_000);
  const steps = card(ADA).getByTestId("card-steps");
  await expect(steps).toHaveText(/^0 \/ \d+$/);
  await typeLine(ada, "unshare -n sleep 600 &");
  await expect(steps).toHaveText(/^1 \/ \d+$/, { timeout: 8_000 });
  await expect(ada.getByTestId("lab-steps").locator(`[data-step-id="${NET_STEP}"]`)).toHaveAttribute("data-done", "true");
  await expect(card(BO).getByTestId("card-steps")).toHaveText(/^0 \/ \d+$/);
});

test("the instructor watches a learner type, then gives them a fresh sandbox that keeps their progress", async () => {
  test.setTimeout(90_000);
  const before = await shellHostname(ada);
  await card(ADA).getByRole("button", { name: /watch their terminal/ }).click();
  const panel = teacher.getByTestId("observe-panel");
  await expect(panel).toBeVisible();
  const watched = panel.getByTestId("terminal");
  // Caught up from the server's copy of the screen: what Ada typed before the panel opened.
  await shows(watched, "unshare -n sleep 600 &");
  await shows(watched, new RegExp(`^${before}$`));

  const marker = `watched-live-${run}`;
  await typeLine(ada, `echo ${marker}`);
  await shows(watched, new RegExp(`^${marker}$`));

  await panel.getByRole("button", { name: "Reset sandbox…" }).click();
  await panel.getByRole("button", { name: "Reset the sandbox" }).click();
  await expect(panel.getByText("A fresh sandbox is starting; their progress is kept.")).toBeVisible();

  await expect(ada.getByTestId("lab-status")).toHaveText(/^ready\. Your instructor gave you a fresh sandbox/, { timeout: 30_000 });
  await expect(ada.getByTestId("sandbox-hostname")).not.toHaveText(before);
  const after = await shellHostname(ada, before);
  expect(after).not.toBe(before);
  await expect(ada.getByTestId("sandbox-hostname")).toHaveText(after);
  await expect(ada.getByTestId("lab-steps").locator(`[data-step-id="${NET_STEP}"]`)).toHaveAttribute("data-done", "true");
  await expect(card(ADA).getByTestId("card-steps")).toHaveText(/^1 \/ \d+$/);
  // The panel follows Ada to her new sandbox.
  await expect(panel.getByTestId("sandbox-hostname")).toHaveText(after, { timeout: 15_000 });

  await teacher.keyboard.press("Escape");
  await expect(panel).toBeHidden();
});

test("lowering everyone's memory limit reaches every learner's cgroup", async () => {
  test.setTimeout(60_000);
  const form = teacher.getByTestId("limits-change-form");
  await form.locator('input[name="memoryBytes"]').fill("128m");
  await form.getByRole("button", { name: "Apply" }).click();
  await expect(form.getByRole("status")).toHaveText("--memory 128m: applied to 3 sandboxes.");
  await expect(form.getByTestId("limits-failures")).toHaveCount(0);

  const file = memoryLimitFile();
  for (const page of [ada, bo, eve]) {
    await typeLine(page, `cat ${file}`);
    await shows(page.getByTestId("terminal"), new RegExp(`^${128 * MiB}$`));
  }
});

test("a message to everyone shows on every learner's page, as text", async () => {
  test.setTimeout(30_000);
  const message = `Ten minutes left: <b>save</b> your notes (${run})`;
  await teacher.getByLabel("Message", { exact: true }).fill(message);
  await teacher.getByRole("button", { name: "Send to everyone" }).click();
  await expect(teacher.getByTestId("last-broadcast")).toContainText(message);
  for (const page of [ada, bo, eve]) {
    await expect(page.getByTestId("class-broadcast")).toHaveText(message);
    await expect(page.getByTestId("class-broadcast").locator("b")).toHaveCount(0);
  }
});

test("a learner who reloads keeps their sandbox and its scrollback", async () => {
  test.setTimeout(60_000);
  const marker = `kept-across-reload-${run}`;
  await typeLine(bo, `echo ${marker}`);
  await shows(bo.getByTestId("terminal"), new RegExp(`^${marker}$`));
  const hostname = await bo.getByTestId("sandbox-hostname").textContent();

  await bo.reload();
  await ready(bo);
  await expect(bo.getByTestId("sandbox-hostname")).toHaveText(hostname ?? "");
  await shows(bo.getByTestId("terminal"), new RegExp(`^${marker}$`));
  await expect(bo.getByTestId("class-banner")).toHaveText(`Class: ${CLASS_NAME} · you are ${BO}`);
});

test("after a restart of the server the class, its learners and their progress are all there", async () => {
  test.setTimeout(120_000);
  const before = (await ada.getByTestId("sandbox-hostname").textContent()) ?? "";
  expect(await server.stop(), `the server's exit code after SIGTERM; its log:\n${server.log()}`).toBe(0);
  expect(server.leftovers(), "sandboxes the stopped server left behind").toEqual([]);
  await expect(ada.getByTestId("lab-status")).toContainText("The lab server is restarting; your progress is kept.");
  await server.start();

  // The login is kept in the database, so the cookie may still be good; if not, log in again.
  await teacher.goto("/teach");
  const list = teacher.getByTestId("class-list");
  const secret = teacher.getByLabel("Instructor secret");
  await expect(list.or(secret)).toBeVisible();
  if (await secret.isVisible()) {
    await secret.fill(SECRET);
    await teacher.getByRole("button", { name: "Log in" }).click();
  }
  const row = list.locator(`[data-testid=class-row][data-class-id="${classId}"]`);
  await expect(row).toContainText(CLASS_NAME);
  await expect(row).toContainText(joinCode);
  await row.getByRole("link").click();
  await expect(teacher).toHaveURL(`/teach/classes/${classId}`);
  await expect(teacher.getByTestId("learner-card")).toHaveCount(3);
  for (const name of [ADA, BO, EVE]) await expect(card(name)).toBeVisible();
  await expect(card(ADA).getByTestId("card-steps")).toHaveText(/^1 \/ \d+$/);

  // Ada's page was told the server went; it reconnects by itself, to a sandbox of the new
  // server, and says why the sandbox is a fresh one.
  await ready(ada);
  await expect(ada.getByTestId("lab-status")).toContainText("The lab restarted, so this is a fresh sandbox.");
  await expect(ada.getByTestId("sandbox-hostname")).not.toHaveText(before);
  await expect(ada.getByTestId("class-banner")).toHaveText(`Class: ${CLASS_NAME} · you are ${ADA}`);
  await expect(card(ADA)).toHaveAttribute("data-status", "connected");
  // Loaded again, her page asks the restarted server for her progress: the step is still done.
  await ada.reload();
  await ready(ada);
  await expect(ada.getByTestId("lab-steps").locator(`[data-step-id="${NET_STEP}"]`)).toHaveAttribute("data-done", "true");
});

test("what must be refused is refused, with a sentence that says why", async ({ browser }) => {
  test.setTimeout(120_000);
  const newcomer = await newPage(browser);

  // A code no class has.
  await join(newcomer, { code: "ZZZZZZ" }, "Nia");
  await expect(refusal(newcomer)).toHaveText(joinRefusalText.unknown_code);
  await expect(newcomer.getByLabel("Class code")).toHaveAccessibleDescription(/^No class has that code\./);
  await expect(newcomer).toHaveURL("/join");

  // A name that is empty, or far too long: the form says so before sending, and the server
  // refuses it too, naming the field.
  await join(newcomer, { link: `/join/${joinCode}` }, "   ");
  await expect(newcomer.getByText("A name cannot be empty.")).toBeVisible();
  await expect(newcomer.getByLabel("Your name")).toHaveAttribute("aria-invalid", "true");
  await newcomer.getByLabel("Your name").fill("a".repeat(10_000));
  await expect(newcomer.getByLabel("Your name")).toHaveValue("a".repeat(40));
  for (const name of ["", "a".repeat(10_000)]) {
    const answer = await newcomer.request.post("/api/join", { data: { code: joinCode, name } });
    expect(answer.status()).toBe(400);
    expect(await answer.json()).toMatchObject({ field: "name", error: expect.stringMatching(name ? /at most 40 characters/ : /cannot be empty/) });
  }

  // A class of one, taken: the next learner is told it is full.
  const small = await teacher.request.post("/api/classes", { data: { name: "Room of one", lesson: LESSON, capacity: 1 } });
  expect(small.status()).toBe(201);
  const smallCode = ((await small.json()) as { class: { code: string } }).class.code;
  expect((await newcomer.request.post("/api/join", { data: { code: smallCode, name: "Nia" } })).status()).toBe(200);
  await join(bo, { link: `/join/${smallCode}` }, BO);
  await expect(refusal(bo)).toHaveText(/^This class is full\b.*Ask your instructor to make room, or to open another class\.$/);

  // Closed from the dashboard: a new learner is refused, saying so.
  await teacher.getByRole("button", { name: "Close to new learners" }).click();
  await expect(teacher.getByRole("button", { name: "Reopen" })).toBeVisible();
  await join(newcomer, { link: `/join/${joinCode}` }, "Nia");
  await expect(refusal(newcomer)).toHaveText(joinRefusalText.closed);

  // The instructor's pages and API are the instructor's alone.
  const dashboard = await ada.goto(`/teach/classes/${classId}`);
  expect(dashboard?.status()).toBe(403);
  await expect(ada.getByRole("heading", { name: "Instructors only" })).toBeVisible();
  const classes = await ada.request.get("/api/classes");
  expect(classes.status()).toBe(403);
  expect(await classes.json()).toMatchObject({ error: expect.stringMatching(/^Only the instructor can do this/) });
  const reset = await ada.request.post(`/api/classes/${classId}/learners/${memberIds.get(ADA)}/reset`);
  expect(reset.status()).toBe(403);
  // Nor may another site use the instructor's own cookie.
  expect((await teacher.request.get("/api/classes")).status()).toBe(200);
  const elsewhere = await teacher.request.get("/api/classes", { headers: { origin: "http://evil.example" } });
  expect(elsewhere.status()).toBe(403);
  expect(await elsewhere.json()).toMatchObject({ error: expect.stringMatching(/came from another site/) });

  // A class whose sandboxes last 5 s: its learner's sandbox ends, and their page says why.
  const short = await teacher.request.post("/api/classes", { data: { name: "Five seconds", lesson: LESSON, capacity: 1, sessionLifetimeS: 5 } });
  expect(short.status()).toBe(201);
  const shortCode = ((await short.json()) as { class: { code: string } }).class.code;
  const fay = await newPage(browser);
  await join(fay, { link: `/join/${shortCode}` }, "Fay");
  await expect(fay).toHaveURL(LESSON_PATH);
  await ready(fay);
  await expect(fay.getByTestId("lab-status")).toContainText("Your sandbox was ended", { timeout: 20_000 });
  await expect(fay.getByTestId("lab-status")).toContainText("The class's sandboxes last 5 s, and this one's time was up.");
});

test("the dashboard and the join page fit a phone, and the grid grows for a projector", async ({ browser }) => {
  test.setTimeout(60_000);
  /** Whether the page is wider than its window: a phone would scroll sideways. */
  const overflows = (page: Page) => page.evaluate(() => document.documentElement.scrollWidth > document.documentElement.clientWidth);

  await teacher.setViewportSize({ width: 375, height: 800 });
  await teacher.goto(`/teach/classes/${classId}`);
  await expect(card(ADA)).toBeVisible();
  expect(await overflows(teacher), "the dashboard at 375 px").toBe(false);
  // One column on a phone: every card as wide as the grid.
  const boxes = await teacher.getByTestId("learner-card").evaluateAll((cards) => cards.map((c) => Math.round(c.getBoundingClientRect().left)));
  expect(new Set(boxes).size).toBe(1);

  const phone = await newPage(browser);
  await phone.setViewportSize({ width: 375, height: 800 });
  await phone.goto(`/join/${joinCode}`);
  await expect(phone.getByTestId("join-page-code")).toBeVisible();
  expect(await overflows(phone), "the join page at 375 px").toBe(false);

  // For a projector: the cards' text grows, and the join code is large enough to read across a room.
  await teacher.setViewportSize({ width: 1920, height: 1080 });
  const size = () => card(ADA).evaluate((c) => Number.parseFloat(getComputedStyle(c).fontSize));
  const before = await size();
  await teacher.getByTestId("large-text").click();
  await expect.poll(size).toBeGreaterThan(before * 1.2);
  const codeSize = await teacher.getByTestId("join-code").evaluate((c) => Number.parseFloat(getComputedStyle(c).fontSize));
  expect(codeSize).toBeGreaterThanOrEqual(48);
});
