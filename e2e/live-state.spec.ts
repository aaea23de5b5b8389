import { type Page, expect, test } from "@playwright/test";

import { type ServerMessage, parseServerMessage } from "../common/protocol";

// The live views against the real server and a real sandbox: what the learner does in the
// terminal shows up in the inspector, outside the terminal, as the kernel reports it; and a
// limit changed from the panel is what the learner's own cgroup file then says.

type SessionReady = Extract<ServerMessage, { type: "session.ready" }>;

/** The terminal's visible lines, as a person reads them (xterm's DOM renderer pads with spaces). */
async function terminalLines(page: Page): Promise<string[]> {
  const rows = await page.locator("[data-testid=terminal] .xterm-rows > div").allTextContents();
  return rows.map((row) => row.replace(/\u00a0/g, " ").trimEnd());
}

async function run(page: Page, command: string): Promise<void> {
  await page.getByTestId("terminal").click();
  await page.keyboard.type(command);
  await page.keyboard.press("Enter");
}

/** Waits for a line matching `pattern` that was not on screen before, and returns its match. */
async function nextMatch(page: Page, pattern: RegExp, before: readonly string[]): Promise<RegExpMatchArray> {
  let found: RegExpMatchArray | null = null;
  await expect
    .poll(async () => {
      const lines = await terminalLines(page);
      const seen = before.filter((line) => pattern.test(line)).length;
      const matches = lines.map((line) => line.match(pattern)).filter((m): m is RegExpMatchArray => m !== null);
      found = matches.length > seen ? (matches.at(-1) ?? null) : null;
      return found !== null;
    })
    .toBe(true);
  if (!found) throw new Error(`no new line matched ${pattern}`);
  return found;
}

/** The session.ready the page received, read off its WebSocket. */
function watchSessionReady(page: Page): () => SessionReady | null {
  let ready: SessionReady | null = null;
  page.on("websocket", (socket) => {
    socket.on("framereceived", ({ payload }) => {
      if (typeof payload !== "string") return;
      const parsed = parseServerMessage(payload);
      if (parsed.ok && parsed.message.type === "session.ready") ready = parsed.message;
    });
  });
  return () => ready;
}

test("a new net namespace made in the terminal appears in the inspector with the inode the shell prints", async ({ page }) => {
  test.setTimeout(60_000);
  await page.goto("/lessons/containers-vs-vms");
  await expect(page.getByTestId("lab-status")).toContainText("ready", { timeout: 20_000 });

  const inspector = page.getByTestId("ns-inspector");
  await page.getByRole("tab", { name: "Namespaces" }).click();
  await expect(inspector.getByTestId("ns-comparison")).toBeVisible();

  // The sandbox's own net namespace: separate from the host's, and the one its shell is in.
  await run(page, "readlink /proc/self/ns/net");
  const sandboxNet = (await nextMatch(page, /^net:\[(\d+)\]$/, []))[1] ?? "";
  await expect(inspector.getByTestId("ns-sandbox-net")).toHaveText(sandboxNet);
  await expect(inspector.getByTestId("ns-row-net")).toHaveAttribute("data-relation", "separate");

  const before = await terminalLines(page);
  await run(page, "unshare --net sh");
  await run(page, "readlink /proc/self/ns/net");
  const newNet = (await nextMatch(page, /^net:\[(\d+)\]$/, before))[1] ?? "";
  expect(newNet).not.toBe(sandboxNet);

  const newGroup = inspector.locator("[data-testid=ns-group][data-sandbox=false]");
  await expect(newGroup.getByTestId("ns-group-net")).toHaveText(`net:[${newNet}]`);
  await expect(newGroup).toContainText("sh");

  // Leaving the shell ends the last process in that namespace, and the group goes.
  await run(page, "exit");
  await expect(newGroup).toHaveCount(0);
});

test("the memory limit lowered from the panel is what the sandbox's cgroup file says", async ({ page }) => {
  test.setTimeout(60_000);
  const sessionReady = watchSessionReady(page);
  await page.goto("/lessons/containers-vs-vms");
  await expect(page.getByTestId("lab-status")).toContainText("ready", { timeout: 20_000 });
  const session = sessionReady();
  if (!session) throw new Error("the page got no session.ready");

  await page.getByRole("tab", { name: "Limits" }).click();
  const memory = page.getByTestId("limit-memoryBytes");
  await memory.getByRole("textbox").fill("64m");
  await page.getByRole("button", { name: "Apply" }).click();
  await expect(page.getByTestId("limits-outcome")).toContainText("docker update --memory 64m");
  await expect(page.getByTestId("limits-outcome")).toContainText("67108864");
  await expect(memory.getByTestId("cgroup-file")).toContainText("67108864");

  // The file the learner reads inside the sandbox: cgroup v1 has a hierarchy per controller.
  const file = session.cgroupVersion === 1 ? "/sys/fs/cgroup/memory/memory.limit_in_bytes" : "/sys/fs/cgroup/memory.max";
  const before = await terminalLines(page);
  await run(page, `cat ${file}`);
  await nextMatch(page, /^67108864$/, before);

  // The chart's table follows the stream: the limit it reads from the cgroup is the new one.
  await page.getByRole("tab", { name: "Resources" }).click();
  await expect(page.getByTestId("memory-readings")).toContainText("64 MiB");
});
