// HTTP routes that push into rooms, and deletes that take effect at once (PROTOCOL §6).
import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import { startServer, seedProject, connect, request, nextEvent, settled, api, sleep, LONG_DOC } from "./helpers.js";

describe("HTTP notifications and deletes", () => {
  let server;
  before(async () => {
    server = await startServer();
  });
  after(async () => {
    await server.stop();
  });

  test("POST /events reaches the project room and only it; server event names are refused", async () => {
    const a = await seedProject(server.url, []);
    const b = await seedProject(server.url, []);
    const inRoom = await connect(server.url, "websocket");
    const elsewhere = await connect(server.url, "polling");
    await request(inRoom, "join_project", { project_id: a.project.id });
    await request(elsewhere, "join_project", { project_id: b.project.id });
    const res = await api(server.url, "POST", `/api/projects/${a.project.id}/events`, { event: "build_finished", data: { ok: 1 } });
    assert.equal(res.status, 200);
    assert.deepEqual(res.body, { event: "build_finished", delivered: 1 });
    assert.deepEqual(await nextEvent(inRoom, "build_finished"), { ok: 1 });
    await settled(elsewhere);
    assert.ok(!elsewhere.events.some((e) => e.event === "build_finished"));

    for (const reserved of ["message_token", "message_complete", "document_status", "error", "connect"]) {
      const refused = await api(server.url, "POST", `/api/projects/${a.project.id}/events`, { event: reserved, data: {} });
      assert.equal(refused.status, 400, reserved);
      assert.equal(refused.body.error.code, "invalid_payload");
      assert.match(refused.body.error.message, /event/);
    }
    const missing = await api(server.url, "POST", `/api/projects/999999/events`, { event: "x", data: {} });
    assert.equal(missing.status, 404);
    inRoom.disconnect();
    elsewhere.disconnect();
  });

  test("document-status and updates from an outside worker are validated and emitted", async () => {
    const { project } = await seedProject(server.url, []);
    const socket = await connect(server.url, "websocket");
    await request(socket, "join_project", { project_id: project.id });
    const path = `/api/projects/${project.id}`;
    const ok = await api(server.url, "POST", `${path}/document-status`, { document_id: 7, filename: "a.pdf", status: "processing", progress: 40 });
    assert.equal(ok.status, 200);
    assert.deepEqual(await nextEvent(socket, "document_status"), {
      project_id: project.id, document_id: 7, filename: "a.pdf", status: "processing", progress: 40,
    });
    // A string of digits is accepted for any id (PROTOCOL §4).
    const digits = { project_id: String(project.id), document_id: "8", filename: "b.pdf", status: "queued", progress: 0 };
    assert.equal((await api(server.url, "POST", `${path}/document-status`, digits)).status, 200);
    assert.equal((await nextEvent(socket, "document_status", (d) => d.filename === "b.pdf")).document_id, 8);
    for (const [body, field] of [
      [{ document_id: 0, filename: "a.pdf", status: "queued", progress: 0 }, "document_id"],
      [{ document_id: "7x", filename: "a.pdf", status: "queued", progress: 0 }, "document_id"],
      [{ document_id: 7, filename: "a.pdf", status: "processing", progress: 140 }, "progress"],
      [{ document_id: 7, filename: "a.pdf", status: "done", progress: 40 }, "status"],
      [{ document_id: 7, filename: "a.pdf", status: "completed", progress: 90 }, "progress"],
      [{ project_id: project.id + 1, document_id: 7, filename: "a.pdf", status: "queued", progress: 0 }, "project_id"],
      [{ document_id: 7, filename: "../etc/passwd", status: "queued", progress: 0 }, "filename"],
    ]) {
      const res = await api(server.url, "POST", `${path}/document-status`, body);
      assert.equal(res.status, 400, JSON.stringify(body));
      assert.match(res.body.error.message, new RegExp(field));
    }
    const update = await api(server.url, "POST", `${path}/updates`, { type: "settings_changed", data: { theme: "dark" } });
    assert.equal(update.status, 200);
    assert.deepEqual(await nextEvent(socket, "project_update", (d) => d.type === "settings_changed"), {
      project_id: project.id, type: "settings_changed", data: { theme: "dark" },
    });
    const bad = await api(server.url, "POST", `${path}/updates`, { data: {} });
    assert.equal(bad.status, 400);
    assert.match(bad.body.error.message, /type/);
    socket.disconnect();
  });

  test("a bad query string gets the API's error body", async () => {
    const { chat } = await seedProject(server.url, []);
    for (const query of ["wait=maybe", "limit=many"]) {
      const method = query.startsWith("wait") ? "POST" : "GET";
      const res = await api(server.url, method, `/api/chats/${chat.id}/messages?${query}`, method === "POST" ? { message: "hi" } : undefined);
      assert.equal(res.status, 400, query);
      assert.equal(res.body.error.code, "invalid_payload", query);
      assert.match(res.body.error.message, new RegExp(query.split("=")[0]), query);
    }
  });

  test("a deleted document is gone from the very next answer's sources", async () => {
    const { project, chat } = await seedProject(server.url);
    const socket = await connect(server.url, "websocket");
    await request(socket, "join_project", { project_id: project.id });
    const before = (await api(server.url, "POST", `/api/chats/${chat.id}/messages`, { message: "water boil" })).body;
    assert.ok(before.sources.length > 0);
    const [doc] = (await api(server.url, "GET", `/api/projects/${project.id}/documents`)).body;
    assert.equal((await api(server.url, "DELETE", `/api/projects/${project.id}/documents/${doc.id}`)).status, 204);
    const deleted = await nextEvent(socket, "project_update", (d) => d.type === "document_deleted");
    assert.deepEqual(deleted.data, { document_id: doc.id, filename: doc.filename });
    const afterDelete = (await api(server.url, "POST", `/api/chats/${chat.id}/messages`, { message: "water boil" })).body;
    assert.deepEqual(afterDelete.sources, []);
    assert.equal((await api(server.url, "DELETE", `/api/projects/${project.id}/documents/${doc.id}`)).status, 404);
    socket.disconnect();
  });

  test("deleting a project removes its chats, messages and documents", async () => {
    const { project, chat } = await seedProject(server.url);
    await api(server.url, "POST", `/api/chats/${chat.id}/messages`, { message: "water" });
    assert.equal((await api(server.url, "DELETE", `/api/projects/${project.id}`)).status, 204);
    assert.equal((await api(server.url, "GET", `/api/projects/${project.id}`)).status, 404);
    assert.equal((await api(server.url, "GET", `/api/chats/${chat.id}/messages`)).status, 404);
    assert.equal((await api(server.url, "GET", `/api/projects/${project.id}/documents`)).status, 404);
    const listed = (await api(server.url, "GET", "/api/projects")).body;
    assert.ok(!listed.some((p) => p.id === project.id));
  });
});

test("deleting a project during a stream ends the stream cancelled for the room first", async () => {
  const server = await startServer({ RAGCAST_BUILTIN_TOKEN_DELAY_MS: "20" });
  const { project, chat } = await seedProject(server.url, [{ filename: "long.txt", content: LONG_DOC }]);
  const socket = await connect(server.url, "websocket");
  await request(socket, "join_project", { project_id: project.id });
  const ack = await request(socket, "send_message", { chat_id: chat.id, message: "water facts", top_k: 10 });
  await nextEvent(socket, "message_token", (d) => d.message_id === ack.message_id);
  assert.equal((await api(server.url, "DELETE", `/api/projects/${project.id}`)).status, 204);
  const complete = await nextEvent(socket, "message_complete", (d) => d.message_id === ack.message_id);
  assert.equal(complete.metadata.finish_reason, "cancelled");
  assert.doesNotMatch(server.log(), /another node/);
  assert.equal((await api(server.url, "GET", `/api/messages/${ack.message_id}`)).status, 404);
  socket.disconnect();
  await server.stop();
});
