// Sessions and their events (issue 14): a token's expiry ends its socket's session, a refresh
// keeps it, events take effect in arrival order, and payloads carry binary attachments.
import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import { io } from "socket.io-client";
import { startServer, connect, request, nextEvent, api, sleep, seedProject, TRANSPORTS } from "./helpers.js";
import { hs256, now } from "./jwt.js";

const SECRET = "session-test-secret";
const API_KEY = "session-test-api-key";

function dial(url, token, transport = "websocket") {
  const socket = io(url, { transports: [transport], forceNew: true, reconnection: false, auth: { token } });
  socket.events = [];
  socket.onAny((event, data) => socket.events.push({ event, data }));
  socket.disconnectedWith = new Promise((resolve) => socket.on("disconnect", resolve));
  return new Promise((resolve, reject) => {
    socket.once("connection_status", () => resolve(socket));
    socket.once("connect_error", reject);
  });
}

async function backend(url, method, path, body) {
  const res = await fetch(url + path, {
    method,
    headers: { authorization: `Bearer ${API_KEY}`, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, body: await res.json().catch(() => null) };
}

describe("jwt sessions (leeway 1 s)", () => {
  let server;
  let projectA, projectB;
  const token = (sub, projects, seconds) => hs256({ sub, exp: now() + seconds, projects }, SECRET);

  before(async () => {
    server = await startServer({
      RAGCAST_AUTH: "jwt",
      RAGCAST_JWT_SECRET: SECRET,
      RAGCAST_API_KEY: API_KEY,
      RAGCAST_JWT_LEEWAY_SECS: "1",
      RAGCAST_RATE_EVENTS_PER_SEC: "1000",
      RAGCAST_RATE_EVENTS_BURST: "1000",
    });
    projectA = (await backend(server.url, "POST", "/api/projects", { name: "A" })).body;
    projectB = (await backend(server.url, "POST", "/api/projects", { name: "B" })).body;
  });
  after(() => server?.stop());

  test("an expired token ends the session; a refreshed one keeps it; events in between are refused", async () => {
    const expiring = await dial(server.url, token("ann", [projectA.id], 2));
    const refreshed = await dial(server.url, token("bob", [projectA.id], 2));
    assert.equal((await request(expiring, "join_project", { project_id: projectA.id })).ok, true);
    const ack = await request(refreshed, "auth_refresh", { token: token("bob", [projectA.id], 120) });
    assert.equal(ack.ok, true, JSON.stringify(ack));
    assert.ok(ack.exp > now() + 100);

    const error = await nextEvent(expiring, "error", (e) => e.code === "unauthorized", 8000);
    assert.equal(error.message, "token expired");
    assert.equal(await expiring.disconnectedWith, "io server disconnect");
    // The refreshed socket outlives the first token by far.
    await sleep(1500);
    assert.equal(refreshed.connected, true);
    assert.equal((await request(refreshed, "join_project", { project_id: projectA.id })).ok, true);
    refreshed.disconnect();
  });

  test("no event takes effect once the session is over: each is refused until the socket is gone", async () => {
    const socket = await dial(server.url, token("cid", [projectA.id], 1));
    const acks = [];
    const pinging = (async () => {
      for (let i = 0; socket.connected && i < 300; i++) {
        const ack = await request(socket, "ping", { timestamp: i }, 2000).catch(() => null);
        if (ack) acks.push(ack);
        await sleep(10);
      }
    })();
    assert.equal(await socket.disconnectedWith, "io server disconnect");
    await pinging;
    const firstRefused = acks.findIndex((a) => !a.ok && a.error.code === "unauthorized");
    assert.ok(acks.every((a) => a.ok || a.error.code === "unauthorized"), "only the expiry refuses");
    assert.ok(acks.length > 10, "the socket answered until its end");
    if (firstRefused >= 0) {
      assert.ok(acks.slice(firstRefused).every((a) => !a.ok && a.error.code === "unauthorized"), JSON.stringify(acks.slice(firstRefused)));
    }
    const error = socket.events.find((e) => e.event === "error" && e.data.code === "unauthorized");
    assert.ok(error, "told why");
  });

  test("a refresh for another user, or an invalid token, ends the session", async () => {
    for (const replacement of [token("someone-else", [projectA.id], 60), "not-a-token"]) {
      const socket = await dial(server.url, token("dan", [projectA.id], 60));
      const ack = await request(socket, "auth_refresh", { token: replacement });
      assert.equal(ack.ok, false);
      assert.equal(ack.error.code, "unauthorized");
      assert.equal(await socket.disconnectedWith, "io server disconnect");
    }
  });

  test("a refresh with fewer projects leaves the room it lost", async () => {
    const socket = await dial(server.url, token("eve", [projectA.id, projectB.id], 60));
    assert.equal((await request(socket, "join_project", { project_id: projectB.id })).ok, true);
    const ack = await request(socket, "auth_refresh", { token: token("eve", [projectA.id], 60) });
    assert.equal(ack.ok, true);
    const left = await nextEvent(socket, "project_left", (d) => d.project_id === projectB.id);
    assert.equal(left.project_id, projectB.id);
    const denied = await request(socket, "join_project", { project_id: projectB.id });
    assert.equal(denied.error.code, "forbidden");
    // Nothing of project B reaches it any more.
    await backend(server.url, "POST", `/api/projects/${projectB.id}/events`, { event: "note", data: { n: 1 } });
    await sleep(200);
    assert.ok(!socket.events.some((e) => e.event === "note"));
    socket.disconnect();
  });

  test("another user's default task id (a message id) is forbidden", async () => {
    const chat = (await backend(server.url, "POST", `/api/projects/${projectA.id}/chats`, {})).body;
    const alice = await dial(server.url, token("alice", [projectA.id], 60));
    const bob = await dial(server.url, token("bob2", "*", 60));
    const sent = await request(alice, "send_message", { chat_id: chat.id, message: "hello" });
    assert.equal(sent.ok, true);
    const denied = await request(bob, "task_subscribe", { task_id: String(sent.message_id) });
    assert.equal(denied.ok, false);
    assert.equal(denied.error.code, "forbidden");
    assert.equal((await request(alice, "task_subscribe", { task_id: String(sent.message_id) })).ok, true);
    alice.disconnect();
    bob.disconnect();
  });
});

describe("events in arrival order, and binary attachments", () => {
  let server;
  before(async () => {
    server = await startServer({ RAGCAST_RATE_EVENTS_PER_SEC: "100000", RAGCAST_RATE_EVENTS_BURST: "100000" });
  });
  after(() => server?.stop());

  test("join, join, leave sent back to back leave the socket exactly where the last one put it (50 times)", async () => {
    const one = (await api(server.url, "POST", "/api/projects", { name: "one" })).body;
    const two = (await api(server.url, "POST", "/api/projects", { name: "two" })).body;
    const socket = await connect(server.url, "websocket");
    for (let round = 0; round < 50; round++) {
      socket.emit("join_project", { project_id: one.id });
      socket.emit("join_project", { project_id: two.id });
      socket.emit("leave_project", { project_id: two.id });
      // An acked ping after them: answered only once the three took effect.
      await request(socket, "ping", { timestamp: round });
      const toTwo = await api(server.url, "POST", `/api/projects/${two.id}/events`, { event: "probe", data: { round } });
      assert.equal(toTwo.body.delivered, 0, `round ${round}: still in project two`);
      socket.emit("leave_project", { project_id: one.id });
    }
    // Pings answer in the order they were sent.
    const acks = await Promise.all(Array.from({ length: 30 }, (_, i) => request(socket, "ping", { timestamp: i })));
    assert.deepEqual(acks.map((a) => a.timestamp), Array.from({ length: 30 }, (_, i) => i));
    const pongs = socket.events.filter((e) => e.event === "pong").slice(-30).map((e) => e.data.timestamp);
    assert.deepEqual(pongs, Array.from({ length: 30 }, (_, i) => i));
    socket.disconnect();
  });

  test("a ping with an array payload is invalid_payload", async () => {
    const socket = await connect(server.url, "websocket");
    socket.emit("ping", [1]);
    const error = await nextEvent(socket, "error", (e) => e.event === "ping");
    assert.equal(error.code, "invalid_payload");
    socket.disconnect();
  });

  for (const transport of TRANSPORTS) {
    test(`binary fields are ignored where unknown and refused where a value is required, over ${transport}`, async () => {
      const { project } = await seedProject(server.url);
      const socket = await connect(server.url, transport);
      const pong = await request(socket, "ping", { timestamp: 7, blob: Buffer.from([1, 2, 3]) });
      assert.equal(pong.ok, true, JSON.stringify(pong));
      assert.equal(pong.timestamp, 7);
      const joined = await request(socket, "join_project", { project_id: project.id, blob: Buffer.from("x") });
      assert.equal(joined.ok, true, JSON.stringify(joined));
      const refused = await request(socket, "join_project", { project_id: Buffer.from([1]) });
      assert.equal(refused.ok, false);
      assert.equal(refused.error.code, "invalid_payload");
      assert.match(refused.error.message, /project_id/);
      assert.equal(socket.connected, true);
      socket.disconnect();
    });
  }
});
