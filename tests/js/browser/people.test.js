// The browser client with two people in one chat (PROTOCOL §9.1–9.2), each in their own browser
// context: a visitor asks, an operator sees who asked, takes the chat over and answers by name,
// and both see who is in the project.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { launchChromium } from "./chromium.js";
import { startServer } from "../test/helpers.js";
import { hs256, now } from "../test/jwt.js";

const WEB_DIR = new URL("../../../examples/web/dist", import.meta.url).pathname;
const ARTIFACTS = new URL("../artifacts/", import.meta.url).pathname;
const SECRET = "browser-people-secret";
const API_KEY = "browser-people-key";

let server, browser, project, chat;
const call = async (method, path, body) =>
  (await fetch(server.url + path, { method, headers: { authorization: `Bearer ${API_KEY}`, "content-type": "application/json" }, body: body && JSON.stringify(body) })).json();

before(async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  server = await startServer({ RAGCAST_WEB_DIR: WEB_DIR, RAGCAST_AUTH: "jwt", RAGCAST_JWT_SECRET: SECRET, RAGCAST_API_KEY: API_KEY, RAGCAST_BUILTIN_TOKEN_DELAY_MS: "5" });
  browser = await launchChromium();
  project = await call("POST", "/api/projects", { name: "Support" });
  chat = await call("POST", `/api/projects/${project.id}/chats`, { title: "Visitor chat" });
  const doc = await call("POST", `/api/projects/${project.id}/documents`, { filename: "water.txt", content: "Water boils at 100 degrees Celsius at sea level." });
  for (let i = 0; i < 400; i++) {
    const docs = await call("GET", `/api/projects/${project.id}/documents`);
    if (docs.find((d) => d.id === doc.id)?.status === "completed") break;
    await new Promise((r) => setTimeout(r, 25));
  }
});
after(async () => {
  await browser?.close();
  await server?.stop();
});

/** A page in a context of its own, signed in as `sub`, in the project's chat. */
async function person(sub, claims) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  page.on("pageerror", (e) => console.error(`${sub} page error:`, e));
  const token = hs256({ sub, exp: now() + 600, projects: [project.id], ...claims }, SECRET);
  await page.goto(`${server.url}/?token=${token}`);
  await page.getByTestId("connection").filter({ hasText: "connected" }).waitFor();
  await page.getByTestId("project").filter({ hasText: "Support" }).click();
  await page.getByTestId("chat").filter({ hasText: "Visitor chat" }).click();
  await page.locator("#composer").waitFor({ state: "visible" });
  return { page, context };
}

test("a visitor and an operator in one chat: names, the AI answer, a takeover and who is here", async () => {
  const visitor = await person("visitor-1", { name: "Vera Visitor" });
  const operator = await person("op-1", { name: "Olga Operator", operator: true });
  // Who is in the project, on both pages.
  for (const { page } of [visitor, operator]) {
    await page.getByTestId("person").filter({ hasText: "Vera Visitor" }).waitFor();
    await page.getByTestId("person").filter({ hasText: "Olga Operator" }).waitFor();
  }

  await visitor.page.fill("#composer textarea", "When does water boil?");
  await visitor.page.click("#send");
  const asked = operator.page.getByTestId("question").filter({ hasText: "When does water boil?" });
  await asked.getByTestId("sender").filter({ hasText: "Vera Visitor" }).waitFor();
  for (const { page } of [visitor, operator]) await page.getByTestId("reply").filter({ hasText: "100 degrees" }).first().waitFor({ timeout: 20000 });

  // The operator takes over and answers; the visitor sees it by name, and no AI reply follows.
  await operator.page.getByTestId("takeover").click();
  await operator.page.getByTestId("takeover-state").filter({ hasText: "A person is answering" }).waitFor();
  await visitor.page.getByTestId("takeover-state").filter({ hasText: "A person is answering" }).waitFor();
  await operator.page.fill("#composer textarea", "Olga here: at 100 °C at sea level.");
  await operator.page.click("#send");
  const answer = visitor.page.getByTestId("question").filter({ hasText: "Olga here" });
  await answer.getByTestId("sender").filter({ hasText: "Olga Operator" }).waitFor();
  assert.match(await answer.getAttribute("class"), /other/, "another person's message is styled apart");
  await visitor.page.screenshot({ path: `${ARTIFACTS}web-people.png` });
  assert.equal(await visitor.page.getByTestId("reply").count(), 1, "no AI reply during the takeover");

  // Handing back; the operator leaves the project page and the visitor sees it.
  await operator.page.getByTestId("takeover").click();
  await visitor.page.getByTestId("takeover-state").filter({ hasText: "The assistant answers" }).waitFor();
  await operator.context.close();
  await visitor.page.getByTestId("person").filter({ hasText: "Olga Operator" }).waitFor({ state: "detached" });
  await visitor.context.close();
});
