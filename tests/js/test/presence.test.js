// Presence (PROTOCOL §9.2): who is in a project's room, in jwt mode (one member per user) and in
// auth mode none (one per socket).
import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import { startServer, connect, request, nextEvent, api } from "./helpers.js";
import { hs256, now } from "./jwt.js";

const SECRET = "presence-test-secret";
const API_KEY = "presence-test-api-key";

/** Resolves the next `presence_changed` of a socket for `userId` with `status`. */
const changed = (socket, status, match) => nextEvent(socket, "presence_changed", (d) => d.status === status && match(d.member));

describe("presence in jwt mode", () => {
  let server, a, b;
  const token = (sub, projects, name) => hs256({ sub, name, exp: now() + 600, projects }, SECRET);
  const call = (method, path, bearer = API_KEY, body) =>
    fetch(server.url + path, { method, headers: { authorization: `Bearer ${bearer}`, "content-type": "application/json" }, body: body && JSON.stringify(body) }).then(async (r) => ({ status: r.status, body: await r.json() }));

  before(async () => {
    server = await startServer({ RAGCAST_AUTH: "jwt", RAGCAST_JWT_SECRET: SECRET, RAGCAST_API_KEY: API_KEY });
    a = (await call("POST", "/api/projects", API_KEY, { name: "A" })).body;
    b = (await call("POST", "/api/projects", API_KEY, { name: "B" })).body;
  });
  after(() => server.stop());

  test("join, a second tab, leave, disconnect, switching projects", async () => {
    const alice = await connect(server.url, "websocket", { auth: { token: token("alice", [a.id, b.id], "Alice") } });
    await request(alice, "join_project", { project_id: a.id });
    const own = await nextEvent(alice, "presence");
    assert.equal(own.project_id, a.id);
    assert.deepEqual(own.members.map((m) => [m.user_id, m.name, m.public_id, m.connections]), [["alice", "Alice", null, 1]]);
    assert.ok(!Number.isNaN(Date.parse(own.members[0].since)));
    const order = alice.events.map((e) => e.event);
    assert.ok(order.indexOf("project_joined") < order.indexOf("presence"), "presence after project_joined");

    const bob1 = await connect(server.url, "polling", { auth: { token: token("bob", [a.id]) } });
    await request(bob1, "join_project", { project_id: a.id });
    const joined = await changed(alice, "joined", (m) => m.user_id === "bob");
    assert.equal(joined.project_id, a.id);
    const bobSees = await nextEvent(bob1, "presence");
    assert.deepEqual(bobSees.members.map((m) => m.user_id).sort(), ["alice", "bob"]);

    // A second tab of bob's: a connection more, not a new member.
    const bob2 = await connect(server.url, "websocket", { auth: { token: token("bob", [a.id]) } });
    await request(bob2, "join_project", { project_id: a.id });
    await nextEvent(bob2, "presence");
    const listed = await call("GET", `/api/projects/${a.id}/presence`);
    assert.equal(listed.body.members.find((m) => m.user_id === "bob").connections, 2);
    await request(bob1, "leave_project", { project_id: a.id });
    // bob is still here through his other tab: alice hears nothing (a later event proves it).
    await request(alice, "typing_start", { chat_id: (await call("POST", `/api/projects/${a.id}/chats`)).body.id });
    bob2.disconnect();
    await changed(alice, "left", (m) => m.user_id === "bob");
    assert.equal(alice.events.filter((e) => e.event === "presence_changed" && e.data.member.user_id === "bob" && e.data.status === "left").length, 1);

    // Switching projects: A's room sees alice leave, B's list has her.
    const watcher = await connect(server.url, "websocket", { auth: { token: token("carol", [a.id]) } });
    await request(watcher, "join_project", { project_id: a.id });
    await request(alice, "join_project", { project_id: b.id });
    await changed(watcher, "left", (m) => m.user_id === "alice");
    const inB = await call("GET", `/api/projects/${b.id}/presence`);
    assert.deepEqual(inB.body.members.map((m) => m.user_id), ["alice"]);
    for (const s of [alice, bob1, watcher]) s.disconnect();
  });

  test("GET …/presence refuses a user outside the project", async () => {
    const outsider = token("dave", [b.id]);
    const refused = await call("GET", `/api/projects/${a.id}/presence`, outsider);
    assert.equal(refused.status, 403);
    assert.equal((await call("GET", `/api/projects/${b.id}/presence`, outsider)).status, 200);
  });
});

describe("presence in auth mode none", () => {
  let server;
  before(async () => {
    server = await startServer();
  });
  after(() => server.stop());

  test("each socket is a member, told apart by its public id", async () => {
    const project = (await api(server.url, "POST", "/api/projects", { name: "open" })).body;
    const first = await connect(server.url, "websocket");
    const second = await connect(server.url, "polling");
    const ids = [first, second].map((s) => s.events[0].data.public_id);
    await request(first, "join_project", { project_id: project.id });
    await request(second, "join_project", { project_id: project.id });
    const joined = await changed(first, "joined", (m) => m.public_id === ids[1]);
    assert.deepEqual([joined.member.user_id, joined.member.connections], [null, 1]);
    const list = await nextEvent(second, "presence");
    assert.deepEqual(list.members.map((m) => m.public_id).sort(), [...ids].sort());
    assert.ok(list.members.every((m) => m.user_id === null));
    second.disconnect();
    await changed(first, "left", (m) => m.public_id === ids[1]);
    const listed = (await api(server.url, "GET", `/api/projects/${project.id}/presence`)).body;
    assert.deepEqual(listed.members.map((m) => m.public_id), [ids[0]]);
    first.disconnect();
  });
});
