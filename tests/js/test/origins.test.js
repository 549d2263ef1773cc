// Pages of other origins (issue 24): credentialed CORS answered as socket.io's
// `cors: { origin, credentials: true }` does, and websocket upgrades (which browsers never
// check) refused from pages the settings do not allow.
import { test } from "node:test";
import assert from "node:assert/strict";
import WebSocket from "ws";
import { io } from "socket.io-client";
import { startServer } from "./helpers.js";

/** The status of a websocket upgrade on the Engine.IO path, with `origin` (or none). */
function upgradeStatus(url, origin) {
  return new Promise((resolve) => {
    const ws = new WebSocket(`${url.replace("http", "ws")}/socket.io/?EIO=4&transport=websocket`, origin ? { origin } : {});
    ws.once("unexpected-response", (_, res) => resolve(res.statusCode));
    ws.once("open", () => {
      resolve(101);
      ws.close();
    });
    ws.once("error", () => {});
  });
}

test("credentialed requests get their allowed origin echoed, never *", async () => {
  const server = await startServer({ RAGCAST_CORS_ORIGINS: "http://app.example:3000" });
  try {
    const headers = { origin: "http://app.example:3000", cookie: "io=abc" };
    for (const path of ["/socket.io/?EIO=3&transport=polling", "/socket.io/?EIO=4&transport=polling", "/api/projects"]) {
      const res = await fetch(server.url + path, { headers });
      assert.equal(res.headers.get("access-control-allow-origin"), "http://app.example:3000", path);
      assert.equal(res.headers.get("access-control-allow-credentials"), "true", path);
      await res.text();
    }
    const preflight = await fetch(`${server.url}/api/projects`, {
      method: "OPTIONS",
      headers: { origin: "http://app.example:3000", "access-control-request-method": "POST", "access-control-request-headers": "content-type" },
    });
    assert.equal(preflight.headers.get("access-control-allow-origin"), "http://app.example:3000");
    assert.equal(preflight.headers.get("access-control-allow-credentials"), "true");
    assert.match(preflight.headers.get("access-control-allow-headers") ?? "", /content-type/);
    const other = await fetch(`${server.url}/api/projects`, { headers: { origin: "http://evil.example" } });
    assert.equal(other.headers.get("access-control-allow-origin"), null);
  } finally {
    await server.stop();
  }
  const open = await startServer();
  try {
    const res = await fetch(`${open.url}/socket.io/?EIO=3&transport=polling`, { headers: { origin: "http://anywhere.example:5173" } });
    assert.equal(res.headers.get("access-control-allow-origin"), "http://anywhere.example:5173", "`*` with credentials is echoed");
    assert.equal(res.headers.get("access-control-allow-credentials"), "true");
  } finally {
    await open.stop();
  }
});

test("websocket upgrades: listed and own origins pass, others get 403, clients without Origin pass", async () => {
  const listed = await startServer({ RAGCAST_CORS_ORIGINS: "http://app.example:3000" });
  const jwt = await startServer({ RAGCAST_AUTH: "jwt", RAGCAST_JWT_SECRET: "origins-secret" });
  const open = await startServer();
  try {
    assert.equal(await upgradeStatus(listed.url, "http://app.example:3000"), 101);
    assert.equal(await upgradeStatus(listed.url, "http://evil.example"), 403);
    assert.equal(await upgradeStatus(listed.url, undefined), 101, "a back end sends no Origin");
    assert.equal(await upgradeStatus(listed.url, listed.url), 101, "the server's own page");
    // jwt mode without --cors-origins: only the server's own pages.
    assert.equal(await upgradeStatus(jwt.url, "http://evil.example"), 403);
    assert.equal(await upgradeStatus(jwt.url, jwt.url), 101);
    // auth none without --cors-origins is `*`: any page.
    assert.equal(await upgradeStatus(open.url, "http://evil.example"), 101);
    // socket.io-client pretending to be such a page gets a connect_error.
    const refused = io(listed.url, { transports: ["websocket"], forceNew: true, reconnection: false, extraHeaders: { origin: "http://evil.example" } });
    await new Promise((resolve) => refused.once("connect_error", resolve));
    refused.close();
    const metrics = await (await fetch(`${listed.url}/metrics`)).text();
    assert.match(metrics, /ragcast_websocket_origin_refused_total\{[^}]*\} [2-9]/);
  } finally {
    await Promise.all([listed.stop(), jwt.stop(), open.stop()]);
  }
});
