// JWT mode (PROTOCOL §2, §3, §6): who gets in, and what each caller may touch.
import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import { generateKeyPairSync } from "node:crypto";
import { writeFileSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { io } from "socket.io-client";
import { startServer, request, nextEvent, settled, sleep, waitFor, WATER } from "./helpers.js";
import { hs256, es256, now } from "./jwt.js";

const SECRET = "test-jwt-secret-value";
const API_KEY = "backend-api-key-value";

function call(url, method, path, { token, body } = {}) {
  const headers = {};
  if (token) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers["content-type"] = "application/json";
  return fetch(url + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) }).then(async (res) => {
    const text = await res.text();
    let parsed = text;
    try { parsed = JSON.parse(text); } catch {}
    return { status: res.status, body: parsed };
  });
}

/** Connects with a token in `auth` or in the query; resolves the socket or rejects with the connect_error. */
function dial(url, { token, via = "auth", transport = "websocket" } = {}) {
  const options = { transports: [transport], forceNew: true, reconnection: false };
  if (token !== undefined && via === "auth") options.auth = { token };
  if (token !== undefined && via === "query") options.query = { token };
  const socket = io(url, options);
  socket.events = [];
  socket.onAny((event, data) => socket.events.push({ event, data }));
  return new Promise((resolve, reject) => {
    socket.once("connection_status", (status) => resolve(Object.assign(socket, { status })));
    socket.once("connect_error", (err) => {
      socket.close();
      reject(err);
    });
  });
}

describe("jwt mode", () => {
  let server;
  let projectA, projectB, chatA, chatB;
  const user = (sub, projects) => hs256({ sub, exp: now() + 600, projects }, SECRET);

  before(async () => {
    server = await startServer({
      RAGCAST_AUTH: "jwt",
      RAGCAST_JWT_SECRET: SECRET,
      RAGCAST_API_KEY: API_KEY,
      RAGCAST_BUILTIN_TOKEN_DELAY_MS: "20",
    });
    const backend = { token: API_KEY };
    projectA = (await call(server.url, "POST", "/api/projects", { ...backend, body: { name: "A" } })).body;
    projectB = (await call(server.url, "POST", "/api/projects", { ...backend, body: { name: "B" } })).body;
    chatA = (await call(server.url, "POST", `/api/projects/${projectA.id}/chats`, backend)).body;
    chatB = (await call(server.url, "POST", `/api/projects/${projectB.id}/chats`, backend)).body;
    for (const p of [projectA, projectB]) {
      await call(server.url, "POST", `/api/projects/${p.id}/documents`, { ...backend, body: { filename: "water.txt", content: WATER } });
      await waitFor(async () => (await call(server.url, "GET", `/api/projects/${p.id}/documents`, backend)).body[0]?.status === "completed");
    }
  });
  after(async () => {
    await server.stop();
  });

  for (const via of ["auth", "query"]) {
    test(`tokens over the handshake ${via}: only a valid one gets in`, async () => {
      const bad = {
        none: undefined,
        malformed: "not-a-jwt",
        "bad signature": hs256({ sub: "u1", exp: now() + 600 }, "another-secret"),
        expired: hs256({ sub: "u1", exp: now() - 3600 }, SECRET),
        "not yet valid": hs256({ sub: "u1", exp: now() + 3600, nbf: now() + 600 }, SECRET),
      };
      for (const [name, token] of Object.entries(bad)) {
        await assert.rejects(dial(server.url, { token, via }), (err) => {
          assert.equal(err.message, "unauthorized", name);
          return true;
        });
      }
      const socket = await dial(server.url, { token: user("u1", [projectA.id]), via });
      assert.equal(socket.status.user_id, "u1");
      assert.equal(socket.status.status, "connected");
      socket.disconnect();
    });
  }

  test("a forbidden project is refused on every guarded event", async () => {
    const socket = await dial(server.url, { token: user("u1", [projectA.id]) });
    // A reply in project B, made by the back-end, and a live one to try to cancel.
    const finished = (await call(server.url, "POST", `/api/chats/${chatB.id}/messages`, { token: API_KEY, body: { message: "water" } })).body;
    const live = (await call(server.url, "POST", `/api/chats/${chatB.id}/messages?wait=false`, { token: API_KEY, body: { message: "water boils sea level" } })).body;
    // A project id is refused as forbidden; a chat or message of another project is not_found,
    // exactly as a missing one (same code, same message), so ids cannot be probed.
    const missing = 999999;
    const cases = [
      ["join_project", { project_id: projectB.id }, "forbidden"],
      ["send_message", { chat_id: chatB.id, message: "hi" }, "not_found", { chat_id: missing, message: "hi" }],
      ["cancel_message", { message_id: live.message_id }, "not_found", { message_id: missing }],
      ["resume_message", { message_id: finished.id }, "not_found", { message_id: missing }],
      ["typing_start", { chat_id: chatB.id }, "not_found", { chat_id: missing }],
      ["typing_stop", { chat_id: chatB.id }, "not_found", { chat_id: missing }],
    ];
    for (const [event, payload, code, missingPayload] of cases) {
      const ack = await request(socket, event, payload);
      assert.equal(ack.ok, false, event);
      assert.equal(ack.error.code, code, event);
      const error = await nextEvent(socket, "error", (d) => d.event === event);
      assert.equal(error.code, code);
      if (missingPayload) {
        const absent = await request(socket, event, missingPayload);
        assert.deepEqual(absent.error, ack.error, `${event}: another project's and a missing one answer alike`);
      }
    }
    assert.ok(!socket.events.some((e) => e.event === "message_token"), "nothing of project B leaked");
    // Its own project works.
    assert.equal((await request(socket, "join_project", { project_id: projectA.id })).ok, true);
    socket.disconnect();
  });

  test("another user's task cannot be followed; user:{sub} gets its own ai_progress", async () => {
    const alice = await dial(server.url, { token: user("alice", [projectA.id]) });
    const aliceElsewhere = await dial(server.url, { token: user("alice", [projectA.id]) });
    const bob = await dial(server.url, { token: user("bob", "*") });
    const ack = await request(alice, "send_message", { chat_id: chatA.id, message: "water boils", task_id: "alice-task" });
    assert.equal(ack.ok, true);
    const denied = await request(bob, "task_subscribe", { task_id: "alice-task" });
    assert.equal(denied.error.code, "forbidden");
    assert.equal((await request(bob, "task_subscribe", { task_id: "bob-task" })).ok, true);
    // Alice's other socket is in user:alice, so it follows her generation without subscribing.
    const done = await nextEvent(aliceElsewhere, "ai_progress", (d) => d.type === "completion" && d.message_id === ack.message_id, 15000);
    assert.equal(done.task_id, "alice-task");
    await settled(bob);
    assert.ok(!bob.events.some((e) => e.event === "ai_progress"));
    for (const s of [alice, aliceElsewhere, bob]) s.disconnect();
  });

  test("a task id two users both used can be followed by each of them, and by nobody else", async () => {
    const alice = await dial(server.url, { token: user("alice", [projectA.id]) });
    const bob = await dial(server.url, { token: user("bob", "*") });
    const carol = await dial(server.url, { token: user("carol", "*") });
    const run = async (socket) => {
      const ack = await request(socket, "send_message", { chat_id: chatA.id, message: "water", task_id: "editor-task" });
      await nextEvent(socket, "message_complete", (d) => d.message_id === ack.message_id, 15000);
    };
    await run(bob);
    assert.equal((await request(alice, "task_subscribe", { task_id: "editor-task" })).error.code, "forbidden");
    await run(alice);
    for (const socket of [alice, bob]) {
      assert.equal((await request(socket, "task_subscribe", { task_id: "editor-task" })).ok, true);
    }
    assert.equal((await request(carol, "task_subscribe", { task_id: "editor-task" })).error.code, "forbidden");
    for (const s of [alice, bob, carol]) s.disconnect();
  });

  test("a task the API key started is followed by users who may see its project, and only them", async () => {
    const start = (wait) =>
      call(server.url, "POST", `/api/chats/${chatA.id}/messages${wait ? "" : "?wait=false"}`, {
        token: API_KEY,
        body: { message: "water boils", task_id: "backend-task" },
      });
    await start(true); // the task exists now, with no user
    const alice = await dial(server.url, { token: user("alice", [projectA.id]) });
    const outsider = await dial(server.url, { token: user("dave", [projectB.id]) });
    for (const socket of [alice, outsider]) {
      assert.equal((await request(socket, "task_subscribe", { task_id: "backend-task" })).ok, true);
    }
    const second = (await start(false)).body;
    const done = await nextEvent(alice, "ai_progress", (d) => d.type === "completion" && d.message_id === second.message_id, 15000);
    assert.equal(done.task_id, "backend-task");
    await settled(outsider);
    assert.ok(!outsider.events.some((e) => e.event === "ai_progress"), "project A's task reached a user of project B only");
    // Unsubscribed, the next one no longer reaches her.
    assert.equal((await request(alice, "task_unsubscribe", { task_id: "backend-task" })).ok, true);
    const third = (await start(true)).body;
    await settled(alice);
    assert.ok(!alice.events.some((e) => e.event === "ai_progress" && e.data.message_id === third.id));
    for (const s of [alice, outsider]) s.disconnect();
  });

  test("subscribing first to a task id another user then uses yields nothing of theirs", async () => {
    const alice = await dial(server.url, { token: user("alice", [projectA.id]) });
    const bob = await dial(server.url, { token: user("bob", "*") });
    // The task ids Alice will use do not exist yet: the explicit one, and the default one (the
    // next message id, easy to guess).
    const last = (await request(bob, "send_message", { chat_id: chatA.id, message: "water" })).message_id;
    await nextEvent(bob, "message_complete", (d) => d.message_id === last, 15000);
    for (const task_id of ["shared-name", String(last + 2)]) {
      assert.equal((await request(bob, "task_subscribe", { task_id })).ok, true);
    }
    const backend = await dial(server.url, { token: API_KEY });
    assert.equal((await request(backend, "task_subscribe", { task_id: "shared-name" })).ok, true);
    const unnamed = await request(alice, "send_message", { chat_id: chatA.id, message: "water boils" });
    assert.equal(unnamed.message_id, last + 2, "the guess was right");
    const named = await request(alice, "send_message", { chat_id: chatA.id, message: "water boils", task_id: "shared-name" });
    for (const ack of [named, unnamed]) {
      await nextEvent(alice, "message_complete", (d) => d.message_id === ack.message_id, 15000);
    }
    // The API key follows any task; Bob, subscribed first, got nothing of Alice's.
    await nextEvent(backend, "ai_progress", (d) => d.type === "completion" && d.message_id === named.message_id, 15000);
    await settled(bob);
    const leaked = bob.events.filter((e) => e.event === "ai_progress" && e.data.message_id !== last);
    assert.deepEqual(leaked, []);
    for (const s of [alice, bob, backend]) s.disconnect();
  });

  test("HTTP: a token is needed, user tokens stay within their projects, the API key opens the rest", async () => {
    const token = user("u1", [projectA.id]);
    for (const path of ["/health", "/ready", "/metrics"]) {
      assert.equal((await call(server.url, "GET", path)).status, 200, path);
    }
    const noToken = await call(server.url, "GET", "/api/projects");
    assert.equal(noToken.status, 401);
    assert.equal(noToken.body.error.code, "unauthorized");
    assert.equal((await call(server.url, "GET", "/api/projects", { token: "garbage" })).status, 401);

    const listed = await call(server.url, "GET", "/api/projects", { token });
    assert.deepEqual(listed.body.map((p) => p.id), [projectA.id], "only its projects are listed");

    // Reads, uploads, chats and messages within its projects; 403 elsewhere.
    const allowed = [
      ["GET", `/api/projects/${projectA.id}`],
      ["GET", `/api/projects/${projectA.id}/chats`],
      ["POST", `/api/projects/${projectA.id}/chats`, {}],
      ["GET", `/api/projects/${projectA.id}/documents`],
      ["POST", `/api/projects/${projectA.id}/documents`, { filename: "n.txt", content: "notes" }],
      ["GET", `/api/chats/${chatA.id}/messages`],
      ["POST", `/api/chats/${chatA.id}/messages`, { message: "water" }],
      ["GET", "/api/openapi.json"],
    ];
    for (const [method, path, body] of allowed) {
      const res = await call(server.url, method, path, { token, body });
      assert.ok(res.status < 300, `${method} ${path}: ${res.status} ${JSON.stringify(res.body)}`);
    }
    const forbidden = [
      ["GET", `/api/projects/${projectB.id}`],
      ["GET", `/api/projects/${projectB.id}/chats`],
      ["POST", `/api/projects/${projectB.id}/chats`, {}],
      ["GET", `/api/projects/${projectB.id}/documents`],
      ["POST", `/api/projects/${projectB.id}/documents`, { filename: "n.txt", content: "notes" }],
      // Back-end only, even for its own project.
      ["POST", "/api/projects", { name: "mine" }],
      ["DELETE", `/api/projects/${projectA.id}`],
      ["DELETE", `/api/projects/${projectA.id}/documents/1`],
      ["POST", `/api/projects/${projectA.id}/events`, { event: "x", data: {} }],
      ["POST", `/api/projects/${projectA.id}/document-status`, { document_id: 1, filename: "a", status: "queued", progress: 0 }],
      ["POST", `/api/projects/${projectA.id}/updates`, { type: "x" }],
    ];
    for (const [method, path, body] of forbidden) {
      const res = await call(server.url, method, path, { token, body });
      assert.equal(res.status, 403, `${method} ${path}: ${JSON.stringify(res.body)}`);
      assert.equal(res.body.error.code, "forbidden");
    }
    // A chat of another project answers as a missing chat does.
    for (const [method, suffix, body] of [["GET", "messages"], ["POST", "messages", { message: "water" }]]) {
      const other = await call(server.url, method, `/api/chats/${chatB.id}/${suffix}`, { token, body });
      const absent = await call(server.url, method, `/api/chats/999999/${suffix}`, { token, body });
      assert.equal(other.status, 404, `${method} ${suffix}: ${JSON.stringify(other.body)}`);
      assert.deepEqual(other.body, absent.body);
    }
    // The API key may do all of it.
    const backend = await call(server.url, "POST", `/api/projects/${projectB.id}/events`, { token: API_KEY, body: { event: "note", data: {} } });
    assert.equal(backend.status, 200);
    assert.equal((await call(server.url, "GET", `/api/chats/${chatB.id}/messages`, { token: API_KEY })).status, 200);
  });
});

test("RS256/ES256 tokens verify against --jwt-public-key-file", async () => {
  const { publicKey, privateKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const dir = mkdtempSync(join(tmpdir(), "ragcast-key-"));
  const keyFile = join(dir, "public.pem");
  writeFileSync(keyFile, publicKey.export({ type: "spki", format: "pem" }));
  const server = await startServer({ RAGCAST_AUTH: "jwt", RAGCAST_JWT_PUBLIC_KEY_FILE: keyFile });
  try {
    const socket = await dial(server.url, { token: es256({ sub: "ec-user", exp: now() + 600, projects: "*" }, privateKey) });
    assert.equal(socket.status.user_id, "ec-user");
    socket.disconnect();
    await assert.rejects(dial(server.url, { token: hs256({ sub: "x", exp: now() + 600 }, "guess") }), /unauthorized/);
  } finally {
    await server.stop();
  }
});
