// Shutdown with streams running, and sockets that cannot keep up with a burst.
import { test } from "node:test";
import assert from "node:assert/strict";
import { startServer, seedProject, connect, request, nextEvent, api, waitFor, sleep, LONG_DOC } from "./helpers.js";
import { rawPollingClient } from "./slow.js";


test("SIGTERM lets a stream finish within the grace period", async () => {
  const server = await startServer({ RAGCAST_BUILTIN_TOKEN_DELAY_MS: "2", RAGCAST_SHUTDOWN_GRACE_SECS: "20" });
  const { chat } = await seedProject(server.url, [{ filename: "long.txt", content: LONG_DOC }]);
  const socket = await connect(server.url, "websocket");
  const ack = await request(socket, "send_message", { chat_id: chat.id, message: "water facts", top_k: 10 });
  await nextEvent(socket, "message_token", (d) => d.message_id === ack.message_id);
  server.proc.kill("SIGTERM");
  const complete = await nextEvent(socket, "message_complete", (d) => d.message_id === ack.message_id, 20000);
  assert.equal(complete.metadata.finish_reason, "stop");
  const { code } = await server.exited;
  assert.equal(code, 0);
  await server.stop();
});

test("past the grace period a running stream is stored interrupted with what was streamed", async () => {
  const server = await startServer({ RAGCAST_BUILTIN_TOKEN_DELAY_MS: "50", RAGCAST_SHUTDOWN_GRACE_SECS: "0" });
  const { chat } = await seedProject(server.url, [{ filename: "long.txt", content: LONG_DOC }]);
  const socket = await connect(server.url, "websocket");
  const ack = await request(socket, "send_message", { chat_id: chat.id, message: "water facts", top_k: 10 });
  await nextEvent(socket, "message_token", (d) => d.message_id === ack.message_id && d.index >= 2);
  server.proc.kill("SIGTERM");
  const error = await nextEvent(socket, "error", (d) => d.message_id === ack.message_id);
  assert.equal(error.code, "generation_failed");
  const complete = await nextEvent(socket, "message_complete", (d) => d.message_id === ack.message_id);
  assert.equal(complete.metadata.finish_reason, "error");
  await server.stop({ keepDb: true });

  const restarted = await startServer({}, { dbPath: server.dbPath });
  const stored = (await api(restarted.url, "GET", `/api/chats/${chat.id}/messages`)).body;
  const reply = stored.find((m) => m.id === ack.message_id);
  assert.equal(reply.status, "interrupted");
  assert.equal(reply.content, complete.content);
  assert.ok(reply.content.length > 0);
  await restarted.stop();
});

test("a socket that takes nothing for the slow-socket timeout is disconnected on purpose, then resumes the whole reply", async () => {
  // A tiny outgoing queue, and a raw Engine.IO polling client that joins the room and then
  // never polls again: its queue fills, the rest waits (merged) in its outbox, and after the
  // slow-socket timeout without progress it is disconnected, whatever the timing.
  // Paced like a model (2 ms a token), so a reading client keeps up with an 8-packet queue.
  const server = await startServer({
    RAGCAST_SOCKET_BUFFER: "16",
    RAGCAST_SOCKET_HIGH_WATER: "8",
    RAGCAST_SLOW_SOCKET_TIMEOUT_MS: "1000",
    RAGCAST_BUILTIN_MAX_TOKENS: "500",
    RAGCAST_BUILTIN_TOKEN_DELAY_MS: "2",
  });
  const doc = Array.from({ length: 120 }, (_, i) => `Sentence ${i} is about rivers and water.`).join(" ");
  const { project, chat } = await seedProject(server.url, [{ filename: "burst.txt", content: doc }]);
  const client = await rawPollingClient(server.url);
  await client.post(`42["join_project",{"project_id":${project.id}}]`);
  // A healthy client in the same room must get the whole stream regardless.
  const steady = await connect(server.url, "websocket");
  await request(steady, "join_project", { project_id: project.id });
  await sleep(100);

  // Started over HTTP, which waits for the stored reply.
  const { status, body: complete } = await api(server.url, "POST", `/api/chats/${chat.id}/messages`, { message: "rivers water", top_k: 50 });
  assert.equal(status, 200);
  assert.equal(complete.token_count, 500);
  await waitFor(() => /outgoing buffer full/.test(server.log()));
  const steadyComplete = await nextEvent(steady, "message_complete", (d) => d.message_id === complete.id);
  const steadyTokens = steady.events.filter((e) => e.event === "message_token");
  assert.equal(steadyTokens.length, 500, "the healthy receiver got every token");
  assert.equal(steadyComplete.content, complete.content);
  assert.ok(steady.connected);
  steady.disconnect();
  const metrics = (await api(server.url, "GET", "/metrics")).body;
  const overflow = /ragcast_emit_overflow_total\{process="[^"]*"\} (\d+)/.exec(metrics);
  assert.ok(overflow && Number(overflow[1]) > 0, "the overflow is counted");
  // Its next poll drains what fit in the buffer…
  const stale = await client.poll();
  assert.ok(!stale.some((p) => p.includes("message_complete")), "it got what fit in its buffer, not the rest");
  const staleIndexes = stale
    .filter((packet) => packet.startsWith('42["message_token"'))
    .map((packet) => JSON.parse(packet.slice(2))[1].index);
  assert.ok(staleIndexes.length > 0);
  staleIndexes.forEach((index, i) => assert.equal(index, i, "what it got has no hole"));
  // Then, once there is room for it, the Socket.IO disconnect packet and nothing after the hole:
  // the server disconnected it on purpose.
  const closed = await client.poll();
  assert.ok(closed.includes("41"), "the overflowing socket was disconnected");
  assert.ok(!closed.some((p) => p.includes("message_token")), "no token after the ones that fit");

  // The client comes back and resumes: it ends with exactly the full reply (a replay of 500
  // tokens into an 8-packet queue comes partly merged, the ranges covering every index once).
  const again = await connect(server.url, "polling");
  await request(again, "join_project", { project_id: project.id });
  await request(again, "resume_message", { message_id: complete.id });
  const resumed = await nextEvent(again, "message_complete", (d) => d.message_id === complete.id);
  const tokens = again.events.filter((e) => e.event === "message_token").map((e) => e.data);
  let next = 0;
  for (const t of tokens) {
    assert.equal(t.from_index ?? t.index, next, "no gap, no overlap");
    next = t.index + 1;
  }
  assert.equal(next, 500);
  assert.equal(tokens.map((t) => t.token).join(""), resumed.content);
  assert.equal(resumed.content, complete.content);
  again.disconnect();
  await server.stop();
});
