// The browser client (examples/web) in a real Chromium, driven by Playwright: uploads, streamed
// and sourced answers, Stop, a second tab, and a dropped connection that resumes.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { launchChromium } from "./chromium.js";
import { startServer, api } from "../test/helpers.js";

const WEB_DIR = new URL("../../../examples/web/dist", import.meta.url).pathname;
const ARTIFACTS = new URL("../artifacts/", import.meta.url).pathname;

const DOC = [
  "Water boils at 100 degrees Celsius at sea level.",
  "On a mountain water boils at a lower temperature because the air pressure is lower.",
  "",
  ...Array.from({ length: 30 }, (_, i) => `Fact ${i}: water covers ${i + 1} percent of something remarkable.`),
].join("\n");

let server;
let browser;
before(async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  server = await startServer({ RAGCAST_WEB_DIR: WEB_DIR, RAGCAST_BUILTIN_TOKEN_DELAY_MS: "25" });
  browser = await launchChromium();
});
after(async () => {
  await browser?.close();
  await server?.stop();
});

async function openPage(context) {
  const page = await (context ?? browser).newPage({ viewport: { width: 1280, height: 800 } });
  page.on("pageerror", (e) => console.error("page error:", e));
  await page.goto(server.url);
  await page.getByTestId("connection").filter({ hasText: "connected" }).waitFor();
  return page;
}

async function createProjectWithDocument(page, name) {
  await page.fill("#new-project input", name);
  await page.click("#new-project button");
  await page.locator("#documents-panel").waitFor({ state: "visible" });
  await page.setInputFiles("#file-input", { name: "water.txt", mimeType: "text/plain", buffer: Buffer.from(DOC) });
  const row = page.getByTestId("document").filter({ hasText: "water.txt" });
  await row.locator('[data-status="completed"], .state').filter({ hasText: "completed 100%" }).waitFor();
  assert.equal(await row.locator("progress").evaluate((p) => p.value), 100);
}

async function newChat(page) {
  await page.click("#new-chat");
  await page.locator("#composer").waitFor({ state: "visible" });
}

async function ask(page, question) {
  await page.fill("#composer textarea", question);
  await page.click("#send");
  return page.getByTestId("reply").last();
}

test("upload a document and watch its bar reach 100%", async () => {
  const page = await openPage();
  assert.match(await page.getByTestId("connection").textContent(), /connected · (websocket|polling)/);
  await createProjectWithDocument(page, "Uploads");
  await page.screenshot({ path: `${ARTIFACTS}documents.png` });
  await page.close();
});

test("a question streams tokens, sources and linked citations", async () => {
  const page = await openPage();
  await createProjectWithDocument(page, "Answers");
  await newChat(page);
  const reply = await ask(page, "At what temperature does water boil?");
  // Tokens arrive before the end: the reply is visibly streaming for a while.
  await reply.locator(".content").filter({ hasText: "Water" }).waitFor();
  assert.equal(await reply.evaluate((el) => el.classList.contains("streaming")), true);
  await page.locator('[data-testid="reply"][data-finish-reason="stop"]').last().waitFor();
  const content = await reply.getByTestId("reply-content").textContent();
  assert.match(content, /Water boils at 100 degrees Celsius at sea level\. \[1\]/);
  const sources = reply.getByTestId("source");
  assert.ok((await sources.count()) > 0);
  assert.match(await sources.first().textContent(), /water\.txt/);
  const citation = reply.getByTestId("citation").first();
  assert.equal(await citation.textContent(), "[1]");
  const target = await citation.getAttribute("href");
  assert.equal(await page.locator(target).count(), 1, "the citation links to its source");
  await page.screenshot({ path: `${ARTIFACTS}answer.png` });
  await page.close();
});

test("Stop cancels a slow stream", async () => {
  const page = await openPage();
  await createProjectWithDocument(page, "Stopping");
  await newChat(page);
  const reply = await ask(page, "water facts percent remarkable");
  await reply.locator(".content").filter({ hasText: "Fact" }).waitFor();
  await page.locator("#stop").waitFor({ state: "visible" });
  await page.click("#stop");
  await page.locator('[data-testid="reply"][data-finish-reason="cancelled"]').waitFor();
  assert.equal(await page.locator("#stop").isHidden(), true);
  await page.screenshot({ path: `${ARTIFACTS}stopped.png` });
  await page.close();
});

test("a second tab on the same chat sees the stream live", async () => {
  const first = await openPage();
  await createProjectWithDocument(first, "Two tabs");
  await newChat(first);
  const second = await openPage();
  await second.getByTestId("project").filter({ hasText: "Two tabs" }).click();
  await second.getByTestId("chat").first().click();
  await second.locator("#composer").waitFor({ state: "visible" });
  // Typing in one tab shows in the other.
  await first.fill("#composer textarea", "water");
  await first.type("#composer textarea", " boils");
  await second.getByTestId("typing").filter({ hasText: "typing" }).waitFor();
  await first.fill("#composer textarea", "");
  await ask(first, "When does water boil on a mountain?");
  const mirrored = second.getByTestId("reply").last();
  await mirrored.locator(".content").filter({ hasText: "mountain" }).waitFor();
  await second.locator('[data-testid="reply"][data-finish-reason="stop"]').last().waitFor();
  await first.locator('[data-testid="reply"][data-finish-reason="stop"]').last().waitFor();
  assert.equal(
    await mirrored.getByTestId("reply-content").textContent(),
    await first.getByTestId("reply").last().getByTestId("reply-content").textContent(),
  );
  await second.screenshot({ path: `${ARTIFACTS}second-tab.png` });
  await first.close();
  await second.close();
});

test("a dropped connection reconnects, re-joins, resumes, and the answer ends complete", async () => {
  const page = await openPage();
  await createProjectWithDocument(page, "Dropping");
  await newChat(page);
  const reply = await ask(page, "water facts percent remarkable");
  await reply.locator(".content").filter({ hasText: "Fact" }).waitFor();
  const messageId = Number(await reply.getAttribute("data-message-id"));
  // Kill the transport under the client, mid-stream.
  await page.evaluate(() => window.ragcast.socket.io.engine.close());
  await page.getByTestId("connection").filter({ hasText: /reconnecting|disconnected/ }).waitFor();
  await page.getByTestId("connection").filter({ hasText: "connected" }).waitFor();
  await page.locator(`[data-testid="reply"][data-message-id="${messageId}"][data-finish-reason="stop"]`).waitFor({ timeout: 30000 });
  const shown = await reply.getByTestId("reply-content").textContent();
  const chatId = await page.locator("#chats li.active").getAttribute("data-chat-id");
  const stored = (await api(server.url, "GET", `/api/chats/${chatId}/messages`)).body.find((m) => m.id === messageId);
  assert.equal(stored.status, "complete");
  assert.equal(shown, stored.content, "the page shows exactly the stored reply");
  await page.screenshot({ path: `${ARTIFACTS}resumed.png` });
  await page.close();
});
