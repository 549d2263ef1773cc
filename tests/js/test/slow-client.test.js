// A receiver that falls behind gets a stream's tokens merged instead of being disconnected,
// while the others get every token one by one (issue 17, PROTOCOL §8); one that never reads is
// still disconnected after the slow-socket timeout.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { startServer, seedProject, connect, request, nextEvent, api, waitFor, sleep } from "./helpers.js";
import { receiverProcess, assertRangesCover, pausedClient, rawPollingClient } from "./slow.js";

/** 600 sentences, all relevant to "rivers water": a built-in answer of more than 3 000 tokens. */
const RIVERS = Array.from({ length: 600 }, (_, i) => `Sentence ${i} is about rivers and water.`).join(" ");

function rssMiB(pid) {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  return Number(/VmRSS:\s+(\d+)/.exec(status)[1]) / 1024;
}

test("a receiver paused for 2 s gets the stream's tokens merged, not a disconnect; the others get all 3 000", async () => {
  const server = await startServer({
    RAGCAST_SOCKET_BUFFER: "2048",
    RAGCAST_SOCKET_HIGH_WATER: "256",
    RAGCAST_POLLING_MAX_PACKETS: "256",
    RAGCAST_BUILTIN_MAX_TOKENS: "3000",
    RAGCAST_BUILTIN_TOKEN_DELAY_MS: "1",
    RAGCAST_CHUNK_SIZE: "4000",
  });
  const { project, chat } = await seedProject(server.url, [{ filename: "rivers.txt", content: RIVERS }]);
  // Over long-polling the paused process's events pile up in the server however large the
  // kernel's socket buffers are: it asks for no more until it runs again.
  const slow = await receiverProcess(server.url, project.id, "polling");
  const fast = [await connect(server.url, "websocket"), await connect(server.url, "polling")];
  for (const socket of fast) assert.equal((await request(socket, "join_project", { project_id: project.id })).ok, true);
  const rssBefore = rssMiB(server.proc.pid);

  const started = await api(server.url, "POST", `/api/chats/${chat.id}/messages?wait=false`, { message: "rivers water", top_k: 50 });
  assert.equal(started.status, 202);
  const messageId = started.body.message_id;
  await nextEvent(fast[0], "message_token", (d) => d.message_id === messageId && d.index >= 100);
  slow.child.kill("SIGSTOP");
  await sleep(2000);
  let rssPeak = rssMiB(server.proc.pid);
  slow.child.kill("SIGCONT");
  const { tokens, complete, disconnects } = await slow.result;
  rssPeak = Math.max(rssPeak, rssMiB(server.proc.pid));

  assert.equal(complete.metadata.tokens, 3000);
  assert.equal(disconnects, 0, "the slow receiver was not disconnected");
  assert.ok(tokens.length < 3000, `merged: ${tokens.length} message_token events for 3 000 tokens`);
  assert.ok(tokens.some((t) => t.from_index !== undefined && t.from_index < t.index));
  assert.equal(tokens.map((t) => t.token).join(""), complete.content);
  assertRangesCover(tokens, 2999);
  for (const socket of fast) {
    const done = await nextEvent(socket, "message_complete", (d) => d.message_id === messageId, 20000);
    const own = socket.events.filter((e) => e.event === "message_token" && e.data.message_id === messageId).map((e) => e.data);
    assert.equal(own.length, 3000, `${socket.io.engine.transport.name}: every token one by one`);
    assert.ok(own.every((t, i) => t.index === i && t.from_index === undefined));
    assert.equal(done.content, complete.content);
    assert.ok(socket.connected);
    socket.disconnect();
  }
  console.log(`# server RSS before ${rssBefore.toFixed(1)} MiB, peak ${rssPeak.toFixed(1)} MiB`);
  assert.ok(rssPeak - rssBefore < 100, `server RSS grew ${rssPeak - rssBefore} MiB`);
  const metrics = (await api(server.url, "GET", "/metrics")).body;
  const merged = /ragcast_outbox_merged_total\{process="[^"]*"\} (\d+)/.exec(metrics);
  assert.ok(merged && Number(merged[1]) > 0, "merges are counted");
  assert.doesNotMatch(server.log(), /outgoing buffer full/);
  await server.stop();
});

test("a client that never reads is disconnected after the slow-socket timeout; the others are unaffected", async () => {
  const server = await startServer({
    RAGCAST_SOCKET_HIGH_WATER: "16",
    // The slow-socket timeout is under test here, not the byte budget (15 MB of flood).
    RAGCAST_SOCKET_BUFFER_BYTES: String(1 << 30),
    RAGCAST_SLOW_SOCKET_TIMEOUT_MS: "1500",
    RAGCAST_PING_TIMEOUT_MS: "5000",
    RAGCAST_RATE_EVENTS_PER_SEC: "100000",
    RAGCAST_RATE_EVENTS_BURST: "100000",
  });
  const project = (await api(server.url, "POST", "/api/projects", { name: "flood" })).body;
  const readers = await Promise.all([1, 2].map(() => connect(server.url, "websocket")));
  for (const r of readers) assert.equal((await request(r, "join_project", { project_id: project.id })).ok, true);
  const paused = await pausedClient(server.url, project.id);

  const blob = "x".repeat(100_000);
  const events = 150;
  for (let n = 0; n < events; n++) {
    const res = await api(server.url, "POST", `/api/projects/${project.id}/events`, { event: "flood", data: { n, blob } });
    assert.equal(res.status, 200);
  }
  const flooded = Date.now();
  await waitFor(() => /nothing could be sent for the slow-socket timeout/.test(server.log()), 10000, 50);
  const after = Date.now() - flooded;
  assert.ok(after < 5000, `disconnected ${after} ms after the flood`);
  // Once it reads again, what it gets ends with the Socket.IO disconnect (or the connection
  // closes first), and no flood event after the ones that reached it in order.
  paused._socket.resume();
  await Promise.race([paused.closed, waitFor(() => paused.frames.includes("41"), 20000)]);
  const got = paused.frames.filter((f) => f.startsWith('42["flood"')).map((f) => JSON.parse(f.slice(2))[1].n);
  assert.ok(got.length < events, `it got ${got.length} of ${events}`);
  got.forEach((n, i) => assert.equal(n, i, "what it got has no hole"));
  paused.terminate();
  for (const reader of readers) {
    await waitFor(() => reader.events.filter((e) => e.event === "flood").length === events, 20000);
    const ns = reader.events.filter((e) => e.event === "flood").map((e) => e.data.n);
    assert.deepEqual(ns, Array.from({ length: events }, (_, i) => i), "in order, none missing");
    assert.ok(reader.connected);
    reader.disconnect();
  }
  await server.stop();
});

test("an ack waits behind the events sent before it, however full the socket's queue is", async () => {
  // A replay of 300 tokens into a queue of 8 packets, to a client that does not poll meanwhile:
  // the queue is full when the handler answers, and the ack must wait in the outbox, not vanish.
  const server = await startServer({ RAGCAST_SOCKET_BUFFER: "2048", RAGCAST_SOCKET_HIGH_WATER: "8", RAGCAST_BUILTIN_MAX_TOKENS: "300" });
  const { project, chat } = await seedProject(server.url, [{ filename: "rivers.txt", content: RIVERS }]);
  const { body: complete } = await api(server.url, "POST", `/api/chats/${chat.id}/messages`, { message: "rivers water", top_k: 50 });
  assert.equal(complete.token_count, 300);
  const client = await rawPollingClient(server.url);
  await client.post(`421["join_project",{"project_id":${project.id}}]`);
  await client.post(`422["resume_message",{"message_id":${complete.id}}]`);
  const packets = [];
  const deadline = Date.now() + 5000;
  while (!packets.some((p) => p.startsWith("432"))) {
    assert.ok(Date.now() < deadline, `no ack for resume_message within 5 s; last packets: ${packets.slice(-2)}`);
    packets.push(...(await client.poll(1000)));
  }
  const ack = JSON.parse(packets.find((p) => p.startsWith("432")).slice(3))[0];
  assert.equal(ack.ok, true);
  assert.equal(ack.message_id, complete.id);
  assert.ok(packets.some((p) => p.startsWith("431")), "the join's ack came too");
  const tokens = packets.filter((p) => p.startsWith('42["message_token"')).map((p) => JSON.parse(p.slice(2))[1]);
  assert.ok(tokens.length > 0, "the replay came before the ack");
  assert.ok(packets.findIndex((p) => p.startsWith('42["message_complete"')) < packets.findIndex((p) => p.startsWith("432")), "in the order they were sent");
  await server.stop();
});

/** The value of a metric (its first series) in /metrics, 0 when absent. */
async function metric(url, name) {
  const text = (await api(url, "GET", "/metrics")).body;
  const found = new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, "m").exec(text);
  return found ? Number(found[1]) : 0;
}

test("a socket past its byte budget gets its tokens merged, then is disconnected; the others get everything in order", async () => {
  const server = await startServer({
    // 1 MiB in all for a socket, 128 KiB of it in socketioxide's queue: far below the event
    // count bounds, so the bytes decide.
    RAGCAST_SOCKET_BUFFER_BYTES: String(1 << 20),
    RAGCAST_SLOW_SOCKET_TIMEOUT_MS: "60000",
    RAGCAST_PING_TIMEOUT_MS: "60000",
    RAGCAST_BUILTIN_MAX_TOKENS: "2000",
    RAGCAST_BUILTIN_TOKEN_DELAY_MS: "1",
    RAGCAST_CHUNK_SIZE: "4000",
    RAGCAST_RATE_EVENTS_PER_SEC: "100000",
    RAGCAST_RATE_EVENTS_BURST: "100000",
  });
  const { project, chat } = await seedProject(server.url, [{ filename: "rivers.txt", content: RIVERS }]);
  const readers = [await connect(server.url, "websocket"), await connect(server.url, "polling")];
  for (const r of readers) assert.equal((await request(r, "join_project", { project_id: project.id })).ok, true);
  const paused = await pausedClient(server.url, project.id);

  // Flood until the paused socket is behind: the kernel's buffers are full and its bytes in
  // socketioxide's queue reached the high-water mark.
  const blob = "x".repeat(100_000);
  let sent = 0;
  const flood = async () => {
    const res = await api(server.url, "POST", `/api/projects/${project.id}/events`, { event: "flood", data: { n: sent, blob } });
    assert.equal(res.status, 200);
    sent += 1;
  };
  while ((await metric(server.url, "ragcast_sockets_behind")) < 1) {
    await flood();
    assert.ok(sent < 400, "the paused socket never fell behind");
  }
  // Behind: a stream's tokens wait for it merged.
  const started = await api(server.url, "POST", `/api/chats/${chat.id}/messages?wait=false`, { message: "rivers water", top_k: 50 });
  const messageId = started.body.message_id;
  await waitFor(async () => (await metric(server.url, "ragcast_outbox_merged_total")) > 100, 20000, 50);
  assert.doesNotMatch(server.log(), /too many bytes waiting/, "merged before being disconnected");
  // More than the budget: disconnected, not buffered without end.
  for (let i = 0; i < 12 && !/too many bytes waiting/.test(server.log()); i++) await flood();
  await waitFor(() => /too many bytes waiting/.test(server.log()), 10000, 50);

  for (const reader of readers) {
    await waitFor(() => reader.events.filter((e) => e.event === "flood").length === sent, 30000);
    const ns = reader.events.filter((e) => e.event === "flood").map((e) => e.data.n);
    assert.deepEqual(ns, Array.from({ length: sent }, (_, i) => i), "every flood event, in order");
    const done = await nextEvent(reader, "message_complete", (d) => d.message_id === messageId, 30000);
    // In order and whole: a reader that fell a little behind during the flood (a poll carries
    // up to 16 events of 100 KB) may get some of them merged, never lost or reordered.
    const tokens = reader.events.filter((e) => e.event === "message_token" && e.data.message_id === messageId).map((e) => e.data);
    assertRangesCover(tokens, done.metadata.tokens - 1);
    assert.equal(tokens.map((t) => t.token).join(""), done.content);
    assert.ok(reader.connected);
    reader.disconnect();
  }
  paused.terminate();
  await server.stop();
});
