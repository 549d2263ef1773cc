// Session takeover (PROTOCOL §2): no event to another socket carries a session id, and a session
// whose id is known anyway answers only the client that opened it. The attacker's requests come
// from another loopback address (127.0.0.2), or from the victim's address with another browser's
// Origin / User-Agent.
import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import WebSocket from "ws";
import { io } from "socket.io-client";
import { startServer, request, nextEvent, waitFor } from "./helpers.js";
import { hs256, now } from "./jwt.js";

const SECRET = "takeover-test-secret";
const API_KEY = "takeover-test-api-key";
const PAGE = "http://app.example";
/** Another page allowed by --cors-origins: its websocket passes the origin check, not the guard. */
const OTHER_PAGE = "http://other.example";
const VICTIM_UA = "Mozilla/5.0 (X11; Linux x86_64) VictimBrowser/1.0";
const SECRET_TEXT = "The vault code is 7319 and nobody outside project two may read it.";

function call(url, method, path, body) {
  const headers = { authorization: `Bearer ${API_KEY}` };
  if (body !== undefined) headers["content-type"] = "application/json";
  return fetch(url + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) }).then((r) => r.json());
}

/** A socket.io-client socket recording its events; `connection_status` is kept as `status`. */
function dial(url, token, options = {}) {
  const socket = io(url, { forceNew: true, reconnection: false, auth: { token }, ...options });
  socket.events = [];
  socket.onAny((event, data) => socket.events.push({ event, data }));
  return new Promise((resolve, reject) => {
    socket.once("connection_status", (status) => resolve(Object.assign(socket, { status })));
    socket.once("connect_error", reject);
  });
}

/** The HTTP status of a websocket upgrade for `sid`, and the socket when it was accepted. */
function upgrade(url, sid, { localAddress = "127.0.0.2", headers = {} } = {}) {
  return new Promise((resolve) => {
    const ws = new WebSocket(`${url.replace("http", "ws")}/socket.io/?EIO=4&transport=websocket&sid=${sid}`, {
      localAddress,
      headers,
    });
    ws.frames = [];
    ws.on("message", (data) => ws.frames.push(data.toString()));
    ws.once("unexpected-response", (_, res) => {
      resolve({ status: res.statusCode, ws });
      ws.terminate();
    });
    ws.once("open", () => {
      // What the hijack needs: the probe, then the upgrade.
      ws.send("2probe");
      setTimeout(() => ws.send("5"), 50);
      resolve({ status: 101, ws });
    });
    ws.once("error", () => {});
  });
}

/** A long-polling request for `sid` (GET, or POST with `body`) from `localAddress`. */
function poll(url, sid, { localAddress = "127.0.0.2", method = "GET", body, headers = {} } = {}) {
  const target = new URL(`${url}/socket.io/?EIO=4&transport=polling&sid=${sid}`);
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: target.hostname, port: target.port, path: target.pathname + target.search, method, localAddress, headers },
      (res) => {
        let text = "";
        res.on("data", (chunk) => (text += chunk));
        res.on("end", () => resolve({ status: res.statusCode, text }));
      },
    );
    req.on("error", reject);
    if (body) req.write(body);
    req.end();
  });
}

/** A value of /metrics, summed over its label sets. */
async function metric(url, name) {
  const text = await (await fetch(`${url}/metrics`)).text();
  return text
    .split("\n")
    .filter((line) => line.startsWith(name))
    .reduce((sum, line) => sum + Number(line.split(" ").pop()), 0);
}

describe("session takeover", () => {
  let server, one, two, chatOne, chatTwo;
  const token = (sub, projects) => hs256({ sub, exp: now() + 600, projects }, SECRET);

  before(async () => {
    server = await startServer({
      RAGCAST_AUTH: "jwt",
      RAGCAST_JWT_SECRET: SECRET,
      RAGCAST_API_KEY: API_KEY,
      RAGCAST_CORS_ORIGINS: `${PAGE},${OTHER_PAGE}`,
      RAGCAST_BUILTIN_TOKEN_DELAY_MS: "5",
    });
    one = await call(server.url, "POST", "/api/projects", { name: "one" });
    two = await call(server.url, "POST", "/api/projects", { name: "two" });
    chatOne = await call(server.url, "POST", `/api/projects/${one.id}/chats`, { title: "c1" });
    chatTwo = await call(server.url, "POST", `/api/projects/${two.id}/chats`, { title: "c2" });
    const doc = await call(server.url, "POST", `/api/projects/${two.id}/documents`, { filename: "vault.txt", content: SECRET_TEXT });
    await waitFor(async () => {
      const docs = await call(server.url, "GET", `/api/projects/${two.id}/documents`);
      return docs.find((d) => d.id === doc.id)?.status === "completed";
    });
  });
  after(() => server?.stop());

  test("typing names the public id; the known session id gets the attacker nothing, and the victim keeps its session", async () => {
    const refusedBefore = await metric(server.url, "ragcast_session_requests_refused_total");
    const victim = await dial(server.url, token("victim", [one.id, two.id]), {
      transports: ["polling"],
      extraHeaders: { "user-agent": VICTIM_UA, origin: PAGE },
    });
    const attacker = await dial(server.url, token("attacker", [one.id]), { transports: ["websocket"] });
    const sid = victim.io.engine.id;
    assert.ok(victim.status.public_id, "connection_status carries a public_id");
    assert.notEqual(victim.status.public_id, sid);
    assert.equal(victim.status.sid, victim.id, "the socket's own sid goes to it alone");

    await request(victim, "join_project", { project_id: one.id });
    await request(attacker, "join_project", { project_id: one.id });
    await request(victim, "typing_start", { chat_id: chatOne.id });
    const typing = await nextEvent(attacker, "typing");
    assert.equal(typing.sid, victim.status.public_id);
    assert.notEqual(typing.sid, sid);

    // Everything the attacker could try with the id: each is refused as an unknown session.
    const fromElsewhere = await upgrade(server.url, sid);
    assert.equal(fromElsewhere.status, 400);
    assert.equal((await poll(server.url, sid)).status, 400, "a stray poll from elsewhere");
    assert.equal((await poll(server.url, sid, { method: "POST", body: "1" })).status, 400, "a close from elsewhere");
    assert.equal(
      (await poll(server.url, sid, { method: "POST", body: `42["join_project",{"project_id":${two.id}}]` })).status,
      400,
      "a packet posted from elsewhere",
    );
    // The victim's own address, another browser: its User-Agent or Origin gives it away.
    const otherAgent = await upgrade(server.url, sid, { localAddress: "127.0.0.1", headers: { "user-agent": "Attacker/1.0", origin: PAGE } });
    assert.equal(otherAgent.status, 400);
    const otherOrigin = await upgrade(server.url, sid, { localAddress: "127.0.0.1", headers: { "user-agent": VICTIM_UA, origin: OTHER_PAGE } });
    assert.equal(otherOrigin.status, 400);
    assert.equal((await poll(server.url, sid, { localAddress: "127.0.0.1", headers: { "user-agent": "Attacker/1.0" } })).status, 400);
    assert.ok((await metric(server.url, "ragcast_session_requests_refused_total")) >= refusedBefore + 7, "refusals are counted");

    // The victim still has its session, its rooms and its rights.
    assert.equal(victim.connected, true);
    assert.equal((await request(victim, "ping", {})).ok, true);
    await request(attacker, "typing_start", { chat_id: chatOne.id });
    await nextEvent(victim, "typing", (t) => t.sid === attacker.status.public_id);
    assert.equal((await request(victim, "join_project", { project_id: two.id })).ok, true);
    const ack = await request(victim, "send_message", { chat_id: chatTwo.id, message: "What is the vault code?" });
    assert.equal(ack.ok, true);
    const complete = await nextEvent(victim, "message_complete", (m) => m.message_id === ack.message_id, 20000);
    assert.match(complete.content, /7319/);

    // Nothing of project two ever reached the attacker, by its socket or by the raw ones.
    const seen = JSON.stringify([attacker.events, fromElsewhere.ws.frames, otherAgent.ws.frames, otherOrigin.ws.frames]);
    assert.ok(!seen.includes("7319"), "the secret leaked");
    assert.ok(!attacker.events.some((e) => e.data?.chat_id === chatTwo.id), "a project-two event leaked");
    victim.disconnect();
    attacker.disconnect();
  });

  test("the upgrade window of a default client: the attacker's upgrade is refused, the victim's goes through", async () => {
    const victim = io(server.url, { forceNew: true, reconnection: false, auth: { token: token("victim", [one.id, two.id]) } });
    // As soon as the session opens, before the client's own upgrade.
    const sid = await new Promise((resolve) => victim.io.engine.once("open", () => resolve(victim.io.engine.id)));
    const attempt = await upgrade(server.url, sid);
    assert.equal(attempt.status, 400);
    await new Promise((resolve) => (victim.connected ? resolve() : victim.once("connect", resolve)));
    await waitFor(() => victim.io.engine.transport.name === "websocket");
    const ack = await victim.timeout(5000).emitWithAck("join_project", { project_id: two.id });
    assert.equal(ack.ok, true);
    assert.deepEqual(attempt.ws.frames, []);
    victim.disconnect();
  });

  test("no event another socket receives carries the first socket's session id", async () => {
    const first = await dial(server.url, token("first", [one.id]), { transports: ["polling", "websocket"] });
    const second = await dial(server.url, token("second", [one.id]), { transports: ["polling"] });
    const secrets = [first.id, first.io.engine.id];
    await request(first, "join_project", { project_id: one.id });
    await request(second, "join_project", { project_id: one.id });
    await request(first, "typing_start", { chat_id: chatOne.id });
    await request(first, "typing_stop", { chat_id: chatOne.id });
    const ack = await request(first, "send_message", { chat_id: chatOne.id, message: "Tell me anything." });
    await nextEvent(second, "message_complete", (m) => m.message_id === ack.message_id, 20000);
    await request(first, "leave_project", { project_id: one.id });
    first.disconnect();
    // The leave's effects have reached the room when a later event from the server does.
    await request(second, "ping", {});
    const everything = JSON.stringify(second.events);
    assert.ok(second.events.length > 5, "the second socket saw the flow");
    for (const secret of secrets) assert.ok(!everything.includes(secret), `a session id in: ${everything.slice(0, 300)}`);
    second.disconnect();
  });
});
