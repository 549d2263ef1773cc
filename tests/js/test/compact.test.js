// Compact catch-up and the one-message route (issue 17, PROTOCOL §8): `resume_message` with
// `compact: true` answers one `message_snapshot` then the live tail; `GET /api/messages/{id}`
// shows a live stream as it stands; `POST /api/messages/{id}/cancel` cancels it.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startServer, seedProject, connect, request, nextEvent, api, waitFor, LONG_DOC, TRANSPORTS } from "./helpers.js";

let server;
before(async () => {
  server = await startServer({ RAGCAST_BUILTIN_TOKEN_DELAY_MS: "15" });
});
after(async () => server.stop());

for (const transport of TRANSPORTS) {
  test(`${transport}: a compact resume mid-stream is one snapshot, then the tail from the next index`, async () => {
    const { project, chat } = await seedProject(server.url, [{ filename: "long.txt", content: LONG_DOC }]);
    const sender = await connect(server.url, transport);
    const ack = await request(sender, "send_message", { chat_id: chat.id, message: "water facts", top_k: 10 });
    await nextEvent(sender, "message_token", (d) => d.message_id === ack.message_id && d.index >= 10);
    const back = await connect(server.url, transport);
    await request(back, "join_project", { project_id: project.id });
    const resumed = await request(back, "resume_message", { message_id: ack.message_id, after_index: 4, compact: true });
    assert.deepEqual(resumed, { ok: true, message_id: ack.message_id });
    const snapshot = await nextEvent(back, "message_snapshot", (d) => d.message_id === ack.message_id);
    assert.equal(snapshot.chat_id, chat.id);
    assert.equal(snapshot.status, "streaming");
    assert.ok(snapshot.last_index >= 10, `last_index ${snapshot.last_index}`);
    assert.equal(snapshot.reasoning, "");
    assert.equal(snapshot.last_reasoning_index, null);
    assert.ok(snapshot.sources.length > 0);
    const complete = await nextEvent(back, "message_complete", (d) => d.message_id === ack.message_id, 20000);
    const at = back.events.findIndex((e) => e.event === "message_snapshot");
    const tail = back.events.slice(at + 1).filter((e) => e.event === "message_token").map((e) => e.data);
    assert.ok(tail.length > 0);
    tail.forEach((t, i) => assert.equal(t.index, snapshot.last_index + 1 + i));
    const head = sender.events.filter((e) => e.event === "message_token" && e.data.index <= 4).map((e) => e.data.token).join("");
    assert.equal(head + snapshot.content + tail.map((t) => t.token).join(""), complete.content);
    sender.disconnect();
    back.disconnect();
  });
}

test("a compact resume after the end is the stored reply's snapshot, then message_complete; without compact nothing changes", async () => {
  const { chat } = await seedProject(server.url);
  const sender = await connect(server.url, "websocket");
  const ack = await request(sender, "send_message", { chat_id: chat.id, message: "When does water boil?" });
  const complete = await nextEvent(sender, "message_complete", (d) => d.message_id === ack.message_id);
  const late = await connect(server.url, "websocket");
  await request(late, "resume_message", { message_id: ack.message_id, compact: true });
  const snapshot = await nextEvent(late, "message_snapshot", (d) => d.message_id === ack.message_id);
  assert.equal(snapshot.content, complete.content);
  assert.equal(snapshot.status, "complete");
  assert.equal(snapshot.last_index, complete.metadata.tokens - 1);
  assert.deepEqual(await nextEvent(late, "message_complete", (d) => d.message_id === ack.message_id), complete);
  const events = late.events.filter((e) => e.data?.message_id === ack.message_id).map((e) => e.event);
  assert.deepEqual(events, ["message_snapshot", "message_complete"]);

  const plain = await connect(server.url, "websocket");
  await request(plain, "resume_message", { message_id: ack.message_id });
  await nextEvent(plain, "message_complete", (d) => d.message_id === ack.message_id);
  const names = plain.events.filter((e) => e.data?.message_id === ack.message_id).map((e) => e.event);
  assert.equal(names[0], "message_sources");
  assert.equal(names.filter((n) => n === "message_token").length, complete.metadata.tokens);
  assert.ok(!names.includes("message_snapshot"));
  for (const s of [sender, late, plain]) s.disconnect();
});

test("GET /api/messages/{id} shows a live stream as it stands, then as stored; cancel over HTTP", async () => {
  const { chat } = await seedProject(server.url, [{ filename: "long.txt", content: LONG_DOC }]);
  const started = await api(server.url, "POST", `/api/chats/${chat.id}/messages?wait=false`, { message: "water facts", top_k: 10 });
  assert.equal(started.status, 202);
  const id = started.body.message_id;
  let live;
  await waitFor(async () => {
    live = (await api(server.url, "GET", `/api/messages/${id}`)).body;
    return live.last_index >= 5;
  });
  assert.equal(live.status, "streaming");
  assert.equal(live.id, id);
  assert.ok(live.content.length > 0);
  const cancelled = await api(server.url, "POST", `/api/messages/${id}/cancel`);
  assert.equal(cancelled.status, 202);
  await waitFor(async () => (await api(server.url, "GET", `/api/messages/${id}`)).body.status === "cancelled");
  const stored = (await api(server.url, "GET", `/api/messages/${id}`)).body;
  assert.equal(stored.finish_reason, "cancelled");
  assert.equal(stored.last_index, stored.token_count - 1);
  assert.ok(stored.content.startsWith(live.content));
  assert.equal((await api(server.url, "POST", `/api/messages/${id}/cancel`)).status, 404);
  assert.equal((await api(server.url, "GET", "/api/messages/999999")).status, 404);
});
