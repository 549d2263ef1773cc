// Behind a reverse proxy (issue 15): the client address comes from the forwarding headers of a
// trusted proxy only, and a rolling restart lets the stream finish and the client reconnect to
// the next process and resume.
import { test } from "node:test";
import assert from "node:assert/strict";
import { io } from "socket.io-client";
import { startServer, seedProject, request, nextEvent, api, sleep, waitFor, LONG_DOC } from "./helpers.js";
import { startProxy } from "./proxy.js";

function dial(url, client, options = {}) {
  const socket = io(url, {
    transports: ["websocket"],
    forceNew: true,
    reconnection: false,
    extraHeaders: client ? { "x-test-client": client } : {},
    ...options,
  });
  socket.events = [];
  socket.onAny((event, data) => socket.events.push({ event, data }));
  return new Promise((resolve, reject) => {
    socket.once("connection_status", () => resolve(socket));
    socket.once("connect_error", (e) => {
      socket.close();
      reject(e);
    });
  });
}

test("through a trusted proxy the per-address cap counts forwarded addresses", async () => {
  const server = await startServer({ RAGCAST_TRUSTED_PROXIES: "127.0.0.1/32, ::1", RAGCAST_MAX_CONNECTIONS_PER_IP: "3" });
  const proxy = await startProxy([server.url]);
  try {
    const distinct = await Promise.all(["203.0.113.1", "203.0.113.2", "203.0.113.3", "203.0.113.4", "203.0.113.5"].map((ip) => dial(proxy.url, ip)));
    assert.equal(distinct.length, 5, "five clients of five addresses");
    const same = [];
    for (let i = 0; i < 3; i++) same.push(await dial(proxy.url, "198.51.100.7"));
    await assert.rejects(dial(proxy.url, "198.51.100.7"), /too many connections/);
    assert.ok(server.log().split("\n").some((l) => l.includes("socket connected") && l.includes("198.51.100.7")), "the log names the client, not the proxy");
    const settings = server.log().split("\n").filter((l) => l.includes("effective limits"));
    assert.equal(settings.length, 1, "the effective settings are logged once, in one line");
    for (const part of ["max_connections_per_ip", "ping_interval_ms", "ping_timeout_ms", "connect_timeout_ms", "127.0.0.1/32"]) {
      assert.ok(settings[0].includes(part), `the line holds ${part}: ${settings[0]}`);
    }
    for (const s of [...distinct, ...same]) s.disconnect();
  } finally {
    await proxy.close();
    await server.stop();
  }
});

test("without trust the headers are ignored, and a client cannot spoof its address", async () => {
  // Only a range the test's own address is not in is trusted.
  const server = await startServer({ RAGCAST_TRUSTED_PROXIES: "10.0.0.0/8", RAGCAST_MAX_CONNECTIONS_PER_IP: "3" });
  const proxy = await startProxy([server.url]);
  try {
    const viaProxy = [];
    for (const ip of ["203.0.113.1", "203.0.113.2", "203.0.113.3"]) viaProxy.push(await dial(proxy.url, ip));
    await assert.rejects(dial(proxy.url, "203.0.113.4"), /too many connections/, "all count as the proxy's address");
    for (const s of viaProxy) s.disconnect();
    await sleep(200);
    // Straight to the server with a forged header: still counted as itself.
    const forged = [];
    for (let i = 0; i < 3; i++) forged.push(await dial(server.url, undefined, { extraHeaders: { "x-forwarded-for": `192.0.2.${i}` } }));
    await assert.rejects(dial(server.url, undefined, { extraHeaders: { "x-forwarded-for": "192.0.2.99" } }), /too many connections/);
    for (const s of forged) s.disconnect();
  } finally {
    await proxy.close();
    await server.stop();
  }
});

test("SIGTERM through the proxy: /ready 503 at once, the stream completes, the client resumes on the next process", async () => {
  const first = await startServer({ RAGCAST_BUILTIN_TOKEN_DELAY_MS: "5", RAGCAST_SHUTDOWN_GRACE_SECS: "20", RAGCAST_EMBEDDER: "none" });
  const { chat } = await seedProject(first.url, [{ filename: "long.txt", content: LONG_DOC }]);
  // The next process, on the same database, started before the stream.
  const second = await startServer({ RAGCAST_EMBEDDER: "none" }, { dbPath: first.dbPath });
  const proxy = await startProxy([first.url, second.url]);
  try {
    const socket = await dial(proxy.url, "203.0.113.9", { reconnection: true, reconnectionDelay: 100, reconnectionDelayMax: 200 });
    const ack = await request(socket, "send_message", { chat_id: chat.id, message: "water facts", top_k: 10 });
    await nextEvent(socket, "message_token", (d) => d.message_id === ack.message_id && d.index >= 3);
    const killed = Date.now();
    first.proc.kill("SIGTERM");
    await waitFor(async () => (await api(first.url, "GET", "/ready")).status === 503, 2000, 5);
    assert.ok(Date.now() - killed < 100 + 50, `/ready 503 after ${Date.now() - killed} ms`);
    const complete = await nextEvent(socket, "message_complete", (d) => d.message_id === ack.message_id, 30000);
    assert.equal(complete.metadata.finish_reason, "stop");
    // The transport closes; the client reconnects (through the proxy, to the second process).
    const reason = await new Promise((resolve) => socket.once("disconnect", resolve));
    assert.equal(reason, "transport close", "a disconnect socket.io-client retries");
    await new Promise((resolve) => socket.once("connect", resolve));
    const lastIndex = Math.max(...socket.events.filter((e) => e.event === "message_token").map((e) => e.data.index));
    const resumed = await request(socket, "resume_message", { message_id: ack.message_id, after_index: lastIndex });
    assert.equal(resumed.ok, true, JSON.stringify(resumed));
    const replayed = await nextEvent(socket, "message_complete", (d) => d.message_id === ack.message_id && d !== complete, 10000);
    assert.equal(replayed.content, complete.content);
    const tokens = socket.events.filter((e) => e.event === "message_token" && e.data.message_id === ack.message_id).map((e) => e.data.token);
    assert.equal(tokens.join(""), complete.content, "every token, once");
    assert.equal((await first.exited).code, 0);
    socket.disconnect();
  } finally {
    await proxy.close();
    await second.stop();
    await first.stop();
  }
});
