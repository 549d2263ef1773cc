// socket.io-client 2.5.0 in a page of another origin (another port), with its default transport:
// engine.io-client 3 polls with credentials, which a browser accepts only when the answer echoes
// the page's origin with access-control-allow-credentials (never `*`).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { launchChromium } from "./chromium.js";
import { startServer, seedProject } from "../test/helpers.js";

const CLIENT = readFileSync(join(dirname(createRequire(import.meta.url).resolve("socket.io-client-v2/package.json")), "dist", "socket.io.js"));

/** A page on its own port that connects to `serverUrl` with socket.io-client 2.5.0 as its user would. */
function pageServer(serverUrl, projectId) {
  const html = `<!doctype html><script src="/socket.io.js"></script><script>
    window.seen = [];
    const socket = io(${JSON.stringify(serverUrl)});
    socket.on("connection_status", (s) => {
      window.seen.push("connection_status");
      socket.emit("join_project", { project_id: ${projectId} }, (ack) => window.seen.push(ack.ok ? "joined" : "refused"));
    });
    socket.on("connect_error", (e) => window.seen.push("connect_error " + e));
    socket.on("error", (e) => window.seen.push("error " + JSON.stringify(e)));
  </script>`;
  const server = createServer((req, res) => {
    if (req.url === "/socket.io.js") return res.end(CLIENT);
    res.setHeader("content-type", "text/html");
    res.end(html);
  });
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve(server)));
}

let server, browser;
before(async () => {
  server = await startServer();
  browser = await launchChromium();
});
after(async () => {
  await browser?.close();
  await server?.stop();
});

test("a socket.io-client 2.5.0 page of another origin connects over long-polling and joins a project", async () => {
  const { project } = await seedProject(server.url, []);
  const site = await pageServer(server.url, project.id);
  const page = await browser.newPage();
  const failed = [];
  page.on("requestfailed", (r) => failed.push(`${r.url()} ${r.failure()?.errorText}`));
  const origin = `http://127.0.0.1:${site.address().port}`;
  await page.goto(origin);
  await page.waitForFunction(() => window.seen.includes("joined"), null, { timeout: 15000 }).catch(async (e) => {
    throw new Error(`${e.message}: ${JSON.stringify(await page.evaluate(() => window.seen))} ${failed.join("; ")}`);
  });
  // It stayed on long-polling (its default until an upgrade) and was never refused by CORS.
  assert.deepEqual(failed, []);
  await page.close();
  site.close();
});
