// The Socket.IO Admin UI's own built page (@socket.io/admin-ui 0.5.1, ui/dist), served by ragcast
// at /admin-ui/ and driven in Chromium: it logs in, lists the connected sockets and the rooms.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { launchChromium } from "./chromium.js";
import { startServer, seedProject, connect, request, sleep } from "../test/helpers.js";
import { ADMIN_HASH, ADMIN_PASSWORD } from "../test/admin.js";

const UI_DIR = join(dirname(createRequire(import.meta.url).resolve("@socket.io/admin-ui/package.json")), "ui", "dist");
const ARTIFACTS = new URL("../artifacts/", import.meta.url).pathname;

let server;
let browser;
before(async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  server = await startServer({ RAGCAST_ADMIN: "true", RAGCAST_ADMIN_PASSWORD_HASH: ADMIN_HASH, RAGCAST_ADMIN_UI_DIR: UI_DIR });
  browser = await launchChromium();
});
after(async () => {
  await browser?.close();
  await server?.stop();
});

/** The UI's page, logged in (its connection modal filled as a person would). */
async function openAdminUi(password) {
  const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  page.on("pageerror", (e) => console.error("page error:", e));
  // Its fonts and icons come from CDNs this machine cannot reach.
  await page.route(/fonts\.googleapis|cdn\.jsdelivr/, (route) => route.abort());
  await page.goto(`${server.url}/admin-ui/`, { waitUntil: "domcontentloaded" });
  await page.getByLabel("Server URL").fill(server.url);
  await page.getByLabel("Username").fill("admin");
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Connect" }).click();
  return page;
}

test("wrong credentials are refused with the UI's own message", async () => {
  const page = await openAdminUi("not the password");
  await page.locator(".v-dialog .red--text").filter({ hasText: "Invalid credentials" }).waitFor();
  await page.close();
});

test("the Admin UI lists ragcast's connected sockets and their rooms", async () => {
  const { project } = await seedProject(server.url);
  const sockets = [await connect(server.url, "websocket"), await connect(server.url, "polling")];
  for (const socket of sockets) await request(socket, "join_project", { project_id: project.id });
  await sleep(1200); // seen by the namespace's once-a-second comparison
  const page = await openAdminUi(ADMIN_PASSWORD);
  await page.locator(".v-chip").filter({ hasText: /^\s*connected\s*$/ }).first().waitFor();

  await page.goto(`${server.url}/admin-ui/#/sockets/`);
  for (const socket of sockets) await page.getByRole("cell", { name: socket.id, exact: true }).waitFor();
  await page.getByText("HTTP long-polling").first().waitFor();
  await page.screenshot({ path: `${ARTIFACTS}admin-ui-sockets.png` });

  await page.goto(`${server.url}/admin-ui/#/rooms/`);
  const room = page.locator("tbody tr").filter({ hasText: `project_${project.id}` });
  await room.waitFor();
  assert.match(await room.innerText(), /\b2\b/, "both sockets in the project room");

  // A socket that joins later shows up live.
  const late = await connect(server.url, "websocket");
  await request(late, "task_subscribe", { task_id: "late-task" });
  await page.locator("tbody tr").filter({ hasText: "task:late-task" }).waitFor({ timeout: 10000 });
  await page.screenshot({ path: `${ARTIFACTS}admin-ui-rooms.png` });

  await page.goto(`${server.url}/admin-ui/#/servers/`);
  await page.getByText("HEALTHY", { exact: false }).first().waitFor();
  for (const socket of [...sockets, late]) socket.disconnect();
  await page.close();
});

test("after a reload the UI is still logged in, and its event list shows a socket's events", async () => {
  const page = await openAdminUi(ADMIN_PASSWORD);
  await page.locator(".v-chip").filter({ hasText: /^\s*connected\s*$/ }).first().waitFor();
  await page.reload({ waitUntil: "domcontentloaded" });
  // Reconnected with its session: connected again without the login dialog.
  await page.locator(".v-chip").filter({ hasText: /^\s*connected\s*$/ }).first().waitFor();
  assert.equal(await page.getByRole("button", { name: "Connect" }).isVisible(), false, "no login dialog after the reload");

  const socket = await connect(server.url, "websocket");
  await request(socket, "ping", { timestamp: 7 });
  await page.goto(`${server.url}/admin-ui/#/events/`);
  // The events of namespace `/` (the page opens on `/admin`).
  await page.getByText("/admin", { exact: true }).first().click();
  await page.locator(".v-list-item").filter({ hasText: /^\s*\/\s*$/ }).first().click();
  const row = page.locator("tbody tr").filter({ hasText: "ping" }).first();
  await row.waitFor({ timeout: 10000 }).catch(async (e) => {
    await page.screenshot({ path: `${ARTIFACTS}admin-ui-events-missing.png` });
    throw e;
  });
  await page.locator("tbody tr").filter({ hasText: "pong" }).first().waitFor({ timeout: 10000 });
  await page.screenshot({ path: `${ARTIFACTS}admin-ui-events.png` });
  socket.disconnect();
  await page.close();
});
