// Rate limits, payload limit, stream and connection caps, SIGKILL mid-stream, secrets in logs.
import { test } from "node:test";
import assert from "node:assert/strict";
import { io } from "socket.io-client";
import { startServer, seedProject, connect, request, nextEvent, api, sleep, waitFor, LONG_DOC } from "./helpers.js";
import { hs256, now } from "./jwt.js";


test("the rate limits answer rate_limited with a retry delay, and the socket survives", async () => {
  const server = await startServer({
    RAGCAST_RATE_EVENTS_PER_SEC: "5",
    RAGCAST_RATE_EVENTS_BURST: "5",
    RAGCAST_RATE_MESSAGES_PER_MIN: "1",
    RAGCAST_RATE_MESSAGES_BURST: "1",
  });
  try {
    const { chat } = await seedProject(server.url);
    for (const transport of ["websocket", "polling"]) {
      const socket = await connect(server.url, transport);
      const acks = await Promise.all(Array.from({ length: 10 }, () => request(socket, "ping", {})));
      const limited = acks.filter((a) => !a.ok);
      assert.ok(limited.length >= 4, `${transport}: ${limited.length} limited`);
      assert.equal(limited[0].error.code, "rate_limited");
      assert.ok(limited[0].error.retry_after_ms > 0);
      const error = await nextEvent(socket, "error", (d) => d.code === "rate_limited");
      assert.ok(error.retry_after_ms > 0 && error.event === "ping");
      await sleep(limited[0].error.retry_after_ms + 250);
      assert.equal((await request(socket, "ping", {})).ok, true, "usable again after the delay");
      assert.ok(socket.connected);
      socket.disconnect();
    }
    // send_message has its own, stricter bucket.
    const sender = await connect(server.url, "websocket");
    assert.equal((await request(sender, "send_message", { chat_id: chat.id, message: "water" })).ok, true);
    const second = await request(sender, "send_message", { chat_id: chat.id, message: "water" });
    assert.equal(second.error.code, "rate_limited");
    assert.ok(second.error.retry_after_ms > 30000);
    assert.equal((await request(sender, "ping", {})).ok, true, "other events still pass");
    sender.disconnect();
  } finally {
    await server.stop();
  }
});

test("an oversized frame is refused without taking the server down", async () => {
  const server = await startServer({ RAGCAST_MAX_PAYLOAD: "20000" });
  try {
    for (const transport of ["websocket", "polling"]) {
      const socket = await connect(server.url, transport);
      const gone = new Promise((resolve) => socket.once("disconnect", resolve));
      socket.emit("ping", { timestamp: 1, padding: "x".repeat(50000) });
      const reason = await gone;
      assert.match(reason, /transport (close|error)/, reason);
      // The server is fine and takes the next connection.
      const next = await connect(server.url, transport);
      assert.equal((await request(next, "ping", {})).ok, true);
      next.disconnect();
    }
    assert.equal((await api(server.url, "GET", "/health")).status, 200);
  } finally {
    await server.stop();
  }
});

test("concurrent streams per user and connections per address are capped", async () => {
  const server = await startServer({
    RAGCAST_BUILTIN_TOKEN_DELAY_MS: "20",
    RAGCAST_MAX_STREAMS_PER_USER: "1",
    RAGCAST_MAX_CONNECTIONS_PER_IP: "3",
  });
  try {
    const { chat } = await seedProject(server.url, [{ filename: "long.txt", content: LONG_DOC }]);
    const a = await connect(server.url, "websocket");
    const first = await request(a, "send_message", { chat_id: chat.id, message: "water facts", top_k: 10 });
    assert.equal(first.ok, true);
    const second = await request(a, "send_message", { chat_id: chat.id, message: "water facts" });
    assert.equal(second.error.code, "busy");
    await request(a, "cancel_message", { message_id: first.message_id });
    await nextEvent(a, "message_complete", (d) => d.message_id === first.message_id);
    assert.equal((await request(a, "send_message", { chat_id: chat.id, message: "ice" })).ok, true, "free again");

    const b = await connect(server.url, "websocket");
    const c = await connect(server.url, "polling");
    await assert.rejects(connect(server.url, "websocket"), /too many connections/);
    c.disconnect();
    await sleep(200);
    const d = await connect(server.url, "websocket");
    for (const s of [a, b, d]) s.disconnect();
  } finally {
    await server.stop();
  }
});

test("sends that arrive together cannot all pass the stream cap", async () => {
  const server = await startServer({ RAGCAST_BUILTIN_TOKEN_DELAY_MS: "20", RAGCAST_MAX_STREAMS_PER_USER: "2" });
  try {
    const { chat } = await seedProject(server.url, [{ filename: "long.txt", content: LONG_DOC }]);
    const socket = await connect(server.url, "websocket");
    const acks = await Promise.all(
      Array.from({ length: 6 }, (_, i) => request(socket, "send_message", { chat_id: chat.id, message: `water facts ${i}`, top_k: 10 })),
    );
    assert.equal(acks.filter((a) => a.ok).length, 2, JSON.stringify(acks));
    assert.ok(acks.filter((a) => !a.ok).every((a) => a.error.code === "busy"));
    socket.disconnect();
  } finally {
    await server.stop();
  }
});

test("a socket follows at most 64 tasks at once", async () => {
  const server = await startServer({ RAGCAST_RATE_EVENTS_PER_SEC: "1000", RAGCAST_RATE_EVENTS_BURST: "1000" });
  const socket = await connect(server.url, "websocket");
  for (let i = 0; i < 64; i++) {
    assert.equal((await request(socket, "task_subscribe", { task_id: `t${i}` })).ok, true, `t${i}`);
  }
  const refused = await request(socket, "task_subscribe", { task_id: "t64" });
  assert.equal(refused.ok, false);
  assert.equal(refused.error.code, "busy");
  assert.equal((await nextEvent(socket, "error", (d) => d.event === "task_subscribe")).code, "busy");
  // Following one it already follows is fine; leaving one makes room.
  assert.equal((await request(socket, "task_subscribe", { task_id: "t0" })).ok, true);
  assert.equal((await request(socket, "task_unsubscribe", { task_id: "t0" })).ok, true);
  assert.equal((await request(socket, "task_subscribe", { task_id: "t64" })).ok, true);
  socket.disconnect();
  await server.stop();
});

test("SIGKILL mid-stream: after restart the question is intact and the reply interrupted with what was flushed", async () => {
  const server = await startServer({ RAGCAST_BUILTIN_TOKEN_DELAY_MS: "20", RAGCAST_FLUSH_INTERVAL_MS: "100" });
  const { chat } = await seedProject(server.url, [{ filename: "long.txt", content: LONG_DOC }]);
  const socket = await connect(server.url, "websocket");
  const ack = await request(socket, "send_message", { chat_id: chat.id, message: "water facts", top_k: 10 });
  await nextEvent(socket, "message_token", (d) => d.message_id === ack.message_id && d.index >= 30, 15000);
  server.proc.kill("SIGKILL");
  await server.exited;
  const streamed = socket.events.filter((e) => e.event === "message_token").map((e) => e.data.token).join("");
  socket.close();

  const restarted = await startServer({}, { dbPath: server.dbPath });
  try {
    const messages = (await api(restarted.url, "GET", `/api/chats/${chat.id}/messages`)).body;
    const question = messages.find((m) => m.id === ack.user_message_id);
    const reply = messages.find((m) => m.id === ack.message_id);
    assert.equal(question.content, "water facts");
    assert.equal(question.status, "complete");
    assert.equal(reply.status, "interrupted");
    assert.ok(reply.content.length > 0, "something was flushed");
    assert.ok(streamed.startsWith(reply.content), "the stored part is what was streamed");
    // An ended row like any other (PROTOCOL §5): why and when it ended, and its timings so far.
    assert.equal(reply.finish_reason, "error");
    assert.ok(reply.completed_at && Date.parse(reply.completed_at) >= Date.parse(reply.created_at), JSON.stringify(reply));
    assert.ok(reply.first_token_ms !== null && reply.first_token_ms >= 0, JSON.stringify(reply));
    assert.ok(reply.duration_ms > 0, JSON.stringify(reply));
    // It is resumable like any finished stream, and replays as it would have ended live.
    const later = await connect(restarted.url, "websocket");
    await request(later, "resume_message", { message_id: ack.message_id });
    const complete = await nextEvent(later, "message_complete", (d) => d.message_id === ack.message_id);
    assert.equal(complete.content, reply.content);
    assert.equal(complete.metadata.finish_reason, "error");
    assert.equal(complete.metadata.first_token_ms, reply.first_token_ms);
    assert.ok(complete.metadata.duration_ms > 0);
    const replayed = later.events.filter((e) => e.data?.message_id === ack.message_id).map((e) => e.event);
    assert.deepEqual(replayed.slice(-2), ["error", "message_complete"], "error generation_failed just before the end");
    const error = later.events.find((e) => e.event === "error" && e.data.message_id === ack.message_id);
    assert.equal(error.data.code, "generation_failed");
    const tokens = later.events.filter((e) => e.event === "message_token" && e.data.message_id === ack.message_id);
    assert.equal(complete.metadata.tokens, tokens.length);
    assert.equal(tokens.map((t) => t.data.token).join(""), complete.content);
    later.disconnect();
  } finally {
    await restarted.stop();
    await server.stop();
  }
});

test("no secret reaches a log line, even at debug level", async () => {
  const secret = "jwt-secret-zz9-plural-z-alpha";
  const apiKey = "api-key-marvin-42-depressed";
  const providerKey = "sk-provider-never-log-this";
  const server = await startServer({
    RUST_LOG: "debug",
    RAGCAST_AUTH: "jwt",
    RAGCAST_JWT_SECRET: secret,
    RAGCAST_API_KEY: apiKey,
    RAGCAST_LLM_API_KEY: providerKey,
  });
  try {
    const token = hs256({ sub: "logger", exp: now() + 600, projects: "*" }, secret);
    const viaQuery = io(server.url, { transports: ["polling"], query: { token }, forceNew: true, reconnection: false });
    await new Promise((resolve, reject) => { viaQuery.once("connection_status", resolve); viaQuery.once("connect_error", reject); });
    const viaAuth = io(server.url, { transports: ["websocket"], auth: { token }, forceNew: true, reconnection: false });
    await new Promise((resolve, reject) => { viaAuth.once("connection_status", resolve); viaAuth.once("connect_error", reject); });
    const project = await fetch(`${server.url}/api/projects`, {
      method: "POST",
      headers: { authorization: `Bearer ${apiKey}`, "content-type": "application/json" },
      body: JSON.stringify({ name: "p" }),
    }).then((r) => r.json());
    await fetch(`${server.url}/api/projects/${project.id}`, { headers: { authorization: `Bearer ${token}` } });
    await fetch(`${server.url}/api/projects`, { headers: { authorization: "Bearer wrong-token" } });
    viaQuery.disconnect();
    viaAuth.disconnect();
    await sleep(200);
    const log = server.log();
    assert.ok(log.length > 1000, "debug logging is on");
    for (const [name, value] of [["jwt secret", secret], ["api key", apiKey], ["provider key", providerKey], ["token", token], ["token signature", token.split(".")[2]]]) {
      assert.ok(!log.includes(value), `the ${name} appears in the log`);
    }
  } finally {
    await server.stop();
  }
});
