// Several processes behave as one server (issue 6): room delivery, control and takeover across
// processes, through the official socket.io-client on every node.
import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import { api, connect, LONG_DOC, nextEvent, request, seedProject, sleep, startServer, streamEvents, waitFor } from "../test/helpers.js";
import { hs256, now } from "../test/jwt.js";
import { skipReason, startCluster, startRedis } from "./cluster.js";


/** Checks one receiver's view of a stream: each event once, in order, tokens gap-free. */
function assertWholeStream(socket, messageId, label) {
  const events = streamEvents(socket, messageId).filter((e) => e.event !== "ai_progress" && e.event !== "typing");
  const names = events.map((e) => e.event);
  assert.equal(names.filter((n) => n === "message_received").length, 1, `${label}: one message_received`);
  assert.equal(names.filter((n) => n === "message_sources").length, 1, `${label}: one message_sources`);
  assert.equal(names.filter((n) => n === "message_complete").length, 1, `${label}: one message_complete`);
  assert.equal(names[0], "message_received", `${label}: received first`);
  assert.equal(names[1], "message_sources", `${label}: sources second`);
  assert.equal(names.at(-1), "message_complete", `${label}: complete last`);
  const tokens = events.filter((e) => e.event === "message_token").map((e) => e.data);
  assert.deepEqual(tokens.map((t) => t.index), tokens.map((_, i) => i), `${label}: indices 0..n-1 in order`);
  const complete = events.at(-1).data;
  assert.equal(complete.content, tokens.map((t) => t.token).join(""), `${label}: content = tokens`);
  return complete;
}

describe("three processes as one server", { skip: skipReason ?? false }, () => {
  let cluster;
  before(async () => {
    cluster = await startCluster(3, { RAGCAST_BUILTIN_TOKEN_DELAY_MS: "5" });
  });
  after(async () => {
    await cluster?.stop();
  });

  test("a stream started on one node reaches every node's receivers exactly once, in order", async () => {
    const [a, b, c] = cluster.nodes;
    const { project, chat } = await seedProject(a.url, [{ filename: "long.txt", content: LONG_DOC }]);
    const receivers = [
      await connect(b.url, "websocket"),
      await connect(b.url, "polling"),
      await connect(c.url, "websocket"),
      await connect(a.url, "websocket"),
    ];
    for (const r of receivers) await request(r, "join_project", { project_id: project.id });
    const sender = await connect(a.url, "websocket");
    const ack = await request(sender, "send_message", { chat_id: chat.id, message: "water facts", top_k: 10 });
    const completes = [];
    for (const [i, r] of receivers.entries()) {
      await nextEvent(r, "message_complete", (d) => d.message_id === ack.message_id, 30000);
      completes.push(assertWholeStream(r, ack.message_id, `receiver ${i}`));
    }
    await sleep(300); // nothing more may arrive
    for (const [i, r] of receivers.entries()) assertWholeStream(r, ack.message_id, `receiver ${i} after a pause`);
    assert.ok(completes.every((c) => c.content === completes[0].content && c.content.length > 0));
    const stored = (await api(c.url, "GET", `/api/chats/${chat.id}/messages`)).body.find((m) => m.id === ack.message_id);
    assert.equal(stored.content, completes[0].content);
    for (const s of [...receivers, sender]) s.disconnect();
  });

  test("typing, document_status, project_update and ai_progress to task: rooms cross nodes", async () => {
    const [a, b, c] = cluster.nodes;
    const { project, chat } = await seedProject(a.url);
    const onB = await connect(b.url, "websocket");
    const onC = await connect(c.url, "polling");
    for (const s of [onB, onC]) await request(s, "join_project", { project_id: project.id });
    const typist = await connect(a.url, "websocket");
    await request(typist, "join_project", { project_id: project.id });
    await request(typist, "typing_start", { chat_id: chat.id });
    for (const s of [onB, onC]) {
      const typing = await nextEvent(s, "typing", (d) => d.chat_id === chat.id);
      assert.equal(typing.typing, true);
      // The typist's public id (PROTOCOL §2), never its session id.
      assert.equal(typing.sid, typist.events[0].data.public_id);
      assert.notEqual(typing.sid, typist.id);
    }
    assert.equal(typist.events.filter((e) => e.event === "typing").length, 0, "not to the typist");

    // Uploaded through C: progress and the update reach a receiver on B, in order.
    const upload = await api(c.url, "POST", `/api/projects/${project.id}/documents`, { filename: "more.txt", content: "Steam is water vapour." });
    assert.equal(upload.status, 202);
    await nextEvent(onB, "project_update", (d) => d.type === "document_added" && d.data.document_id === upload.body.id);
    const statuses = onB.events.filter((e) => e.event === "document_status" && e.data.document_id === upload.body.id).map((e) => e.data);
    assert.equal(statuses.at(-1).status, "completed");
    assert.equal(statuses.at(-1).progress, 100);
    for (let i = 1; i < statuses.length; i++) assert.ok(statuses[i].progress >= statuses[i - 1].progress, "progress never falls");
    assert.equal(onB.events.filter((e) => e.event === "project_update" && e.data.data?.document_id === upload.body.id).length, 1);

    // A task follower on C sees the generation that runs on A.
    const follower = await connect(c.url, "websocket");
    await request(follower, "task_subscribe", { task_id: "cluster-task" });
    const ack = await request(typist, "send_message", { chat_id: chat.id, message: "When does water boil?", task_id: "cluster-task" });
    const done = await nextEvent(follower, "ai_progress", (d) => d.task_id === "cluster-task" && d.type === "completion", 30000);
    const chunks = follower.events.filter((e) => e.event === "ai_progress" && e.data.type === "text").map((e) => e.data.text);
    assert.equal(chunks.join(""), done.text);
    assert.equal(done.message_id, ack.message_id);
    assert.equal(follower.events.filter((e) => e.event === "ai_progress" && e.data.type === "completion").length, 1);
    for (const s of [onB, onC, typist, follower]) s.disconnect();
  });

  test("a document ingested through one node is retrievable through another within a second", async () => {
    const [a, b] = cluster.nodes;
    const { chat, project } = await seedProject(a.url, [{ filename: "other.txt", content: "Nothing relevant here at all." }]);
    const upload = await api(a.url, "POST", `/api/projects/${project.id}/documents`, {
      filename: "volcano.txt",
      content: "Basaltic lava erupts at about 1200 degrees Celsius from shield volcanoes.",
    });
    await waitFor(async () => (await api(a.url, "GET", `/api/projects/${project.id}/documents`)).body.find((d) => d.id === upload.body.id).status === "completed", 10000, 10);
    const completedAt = performance.now();
    const asker = await connect(b.url, "websocket");
    const ack = await request(asker, "send_message", { chat_id: chat.id, message: "How hot is basaltic lava?" });
    const sources = await nextEvent(asker, "message_sources", (d) => d.message_id === ack.message_id);
    const elapsed = performance.now() - completedAt;
    assert.ok(sources.sources.some((s) => s.metadata.filename === "volcano.txt"), JSON.stringify(sources));
    assert.ok(elapsed < 1000, `retrieved after ${elapsed} ms`);
    asker.disconnect();
  });

  test("cancel_message and resume_message work from a node other than the one running the stream", async () => {
    const [a, b, c] = cluster.nodes;
    const { project, chat } = await seedProject(a.url, [{ filename: "long.txt", content: LONG_DOC }]);
    const sender = await connect(a.url, "websocket");
    const ack = await request(sender, "send_message", { chat_id: chat.id, message: "water facts", top_k: 10 });
    await nextEvent(sender, "message_token", (d) => d.message_id === ack.message_id && d.index >= 5);

    // Resume on B: the replay of what A has streamed so far, to that socket only.
    const resumer = await connect(b.url, "polling");
    const resumed = await request(resumer, "resume_message", { message_id: ack.message_id, after_index: 2 });
    assert.deepEqual(resumed, { ok: true, message_id: ack.message_id });
    await nextEvent(resumer, "message_token", (d) => d.message_id === ack.message_id && d.index >= 5);
    const replayed = resumer.events.filter((e) => e.event === "message_token").map((e) => e.data.index);
    assert.deepEqual(replayed, replayed.map((_, i) => i + 3), "the replay starts after after_index, gap-free");

    // Cancel on C.
    const canceller = await connect(c.url, "websocket");
    await request(canceller, "join_project", { project_id: project.id });
    const cancelledAt = performance.now();
    const cancelAck = await request(canceller, "cancel_message", { message_id: ack.message_id });
    assert.deepEqual(cancelAck, { ok: true, message_id: ack.message_id });
    const complete = await nextEvent(canceller, "message_complete", (d) => d.message_id === ack.message_id);
    assert.ok(performance.now() - cancelledAt < 500, `cancel took ${performance.now() - cancelledAt} ms`);
    assert.equal(complete.metadata.finish_reason, "cancelled");
    const senderComplete = await nextEvent(sender, "message_complete", (d) => d.message_id === ack.message_id);
    assert.equal(senderComplete.metadata.finish_reason, "cancelled");
    const stored = (await api(b.url, "GET", `/api/chats/${chat.id}/messages`)).body.find((m) => m.id === ack.message_id);
    assert.equal(stored.status, "cancelled");

    // After the end, a resume anywhere replays the stored stream, ending with the same complete.
    const late = await connect(c.url, "websocket");
    await request(late, "resume_message", { message_id: ack.message_id });
    const replayedComplete = await nextEvent(late, "message_complete", (d) => d.message_id === ack.message_id);
    assert.equal(replayedComplete.content, senderComplete.content);
    for (const s of [sender, resumer, canceller, late]) s.disconnect();
  });

  test("a resume on another node mid-stream, with the room, gives the whole reply", async () => {
    const [a, b] = cluster.nodes;
    const { project, chat } = await seedProject(a.url, [{ filename: "long.txt", content: LONG_DOC }]);
    const sender = await connect(a.url, "websocket");
    const ack = await request(sender, "send_message", { chat_id: chat.id, message: "water facts", top_k: 10 });
    await nextEvent(sender, "message_token", (d) => d.message_id === ack.message_id && d.index >= 10);
    // A client that reconnected to B: re-join, then resume from the start.
    const back = await connect(b.url, "websocket");
    await request(back, "join_project", { project_id: project.id });
    await request(back, "resume_message", { message_id: ack.message_id });
    const complete = await nextEvent(back, "message_complete", (d) => d.message_id === ack.message_id, 30000);
    const byIndex = new Map();
    for (const e of back.events) if (e.event === "message_token" && e.data.message_id === ack.message_id) byIndex.set(e.data.index, e.data.token);
    assert.equal(byIndex.size, complete.metadata.tokens);
    assert.equal([...byIndex.keys()].sort((x, y) => x - y).map((i) => byIndex.get(i)).join(""), complete.content);
    sender.disconnect();
    back.disconnect();
  });

  test("a compact resume on another node mid-stream: one snapshot, then the live tail from the next index", async () => {
    const [a, b] = cluster.nodes;
    const { project, chat } = await seedProject(a.url, [{ filename: "long.txt", content: LONG_DOC }]);
    const sender = await connect(a.url, "websocket");
    const ack = await request(sender, "send_message", { chat_id: chat.id, message: "water facts", top_k: 10 });
    await nextEvent(sender, "message_token", (d) => d.message_id === ack.message_id && d.index >= 10);
    const back = await connect(b.url, "websocket");
    await request(back, "join_project", { project_id: project.id });
    await request(back, "resume_message", { message_id: ack.message_id, after_index: 3, compact: true });
    const snapshot = await nextEvent(back, "message_snapshot", (d) => d.message_id === ack.message_id);
    assert.equal(snapshot.status, "streaming");
    assert.ok(snapshot.last_index >= 10);
    assert.ok(snapshot.sources.length > 0);
    const complete = await nextEvent(back, "message_complete", (d) => d.message_id === ack.message_id, 30000);
    const at = back.events.findIndex((e) => e.event === "message_snapshot");
    const tail = back.events.slice(at + 1).filter((e) => e.event === "message_token").map((e) => e.data);
    tail.forEach((t, i) => assert.equal(t.index, snapshot.last_index + 1 + i, "the tail follows the snapshot"));
    const head = sender.events.filter((e) => e.event === "message_token" && e.data.index <= 3).map((e) => e.data.token).join("");
    assert.equal(head + snapshot.content + tail.map((t) => t.token).join(""), complete.content);
    // After the end, from any node: the snapshot of the stored reply, then message_complete.
    const late = await connect(b.url, "polling");
    await request(late, "resume_message", { message_id: ack.message_id, compact: true });
    const stored = await nextEvent(late, "message_snapshot", (d) => d.message_id === ack.message_id);
    assert.equal(stored.content, complete.content);
    assert.equal(stored.status, "complete");
    assert.deepEqual(await nextEvent(late, "message_complete", (d) => d.message_id === ack.message_id), complete);
    for (const s of [sender, back, late]) s.disconnect();
  });

  test("the same client_message_id sent to two nodes at once is stored once", async () => {
    const [a, b] = cluster.nodes;
    const { chat } = await seedProject(a.url);
    const onA = await connect(a.url, "websocket");
    const onB = await connect(b.url, "websocket");
    const payload = { chat_id: chat.id, message: "When does water boil?", client_message_id: "twice" };
    const acks = await Promise.all([request(onA, "send_message", payload), request(onB, "send_message", payload)]);
    assert.equal(acks[0].message_id, acks[1].message_id);
    assert.deepEqual(acks.map((x) => x.duplicate).sort(), [false, true]);
    await sleep(500);
    const users = (await api(b.url, "GET", `/api/chats/${chat.id}/messages`)).body.filter((m) => m.role === "user");
    assert.equal(users.length, 1);
    onA.disconnect();
    onB.disconnect();
  });

  for (const transport of ["websocket", "polling"]) {
    test(`${transport}: a repeated client_message_id on another node replays the tokens one by one, or one snapshot with compact`, async () => {
      const [a, b] = cluster.nodes;
      const { chat } = await seedProject(a.url);
      const onA = await connect(a.url, transport);
      const onB = await connect(b.url, transport);
      const first = await request(onA, "send_message", { chat_id: chat.id, message: "When does water boil?", client_message_id: `dup-${transport}` });
      const done = await nextEvent(onA, "message_complete", (d) => d.message_id === first.message_id, 20000);
      const live = streamEvents(onA, first.message_id).filter((e) => e.event === "message_token").map((e) => e.data);
      const again = await request(onB, "send_message", { chat_id: chat.id, message: "When does water boil?", client_message_id: `dup-${transport}` });
      assert.equal(again.duplicate, true);
      assert.equal(again.message_id, first.message_id);
      const replayed = await nextEvent(onB, "message_complete", (d) => d.message_id === first.message_id, 20000);
      assert.deepEqual(replayed, done);
      const tokens = streamEvents(onB, first.message_id).filter((e) => e.event === "message_token").map((e) => e.data);
      assert.deepEqual(tokens, live, "the very same (index, token) pairs");
      assert.ok(!onB.events.some((e) => e.event === "message_snapshot"));
      const compact = await request(onB, "send_message", { chat_id: chat.id, message: "When does water boil?", client_message_id: `dup-${transport}`, compact: true });
      assert.equal(compact.duplicate, true);
      const snapshot = await nextEvent(onB, "message_snapshot", (d) => d.message_id === first.message_id, 20000);
      assert.equal(snapshot.content, done.content);
      assert.equal(snapshot.last_index, done.metadata.tokens - 1);
      onA.disconnect();
      onB.disconnect();
    });
  }

  test("a deployment with another Redis prefix does not receive this one's events", async () => {
    const [a, b] = cluster.nodes;
    // Same database and Redis, another prefix: another deployment sharing the Redis.
    const other = await startServer({
      DATABASE_URL: cluster.database.url,
      REDIS_URL: process.env.RAGCAST_TEST_REDIS_URL,
      RAGCAST_REDIS_PREFIX: `${cluster.prefix}-other`,
      RAGCAST_NODE_NAME: "other",
    });
    try {
      const { project, chat } = await seedProject(a.url);
      const inside = await connect(b.url, "websocket");
      const outside = await connect(other.url, "websocket");
      for (const s of [inside, outside]) await request(s, "join_project", { project_id: project.id });
      const sender = await connect(a.url, "websocket");
      const ack = await request(sender, "send_message", { chat_id: chat.id, message: "When does water boil?" });
      await nextEvent(inside, "message_complete", (d) => d.message_id === ack.message_id, 30000);
      await sleep(300);
      assert.equal(streamEvents(outside, ack.message_id).length, 0, "nothing crossed to the other prefix");
      for (const s of [inside, outside, sender]) s.disconnect();
    } finally {
      await other.stop({ keepDb: true });
    }
  });

  test("/ready covers Redis and /metrics names the process", async () => {
    for (const [i, node] of cluster.nodes.entries()) {
      const ready = await api(node.url, "GET", "/ready");
      assert.equal(ready.status, 200);
      assert.equal(ready.body.redis, "ok");
      assert.equal(ready.body.database, "ok");
      const metrics = await api(node.url, "GET", "/metrics");
      assert.match(metrics.body, new RegExp(`process="node${i}"`));
    }
  });
});

describe("a node that dies mid-stream", { skip: skipReason ?? false }, () => {
  let cluster;
  before(async () => {
    cluster = await startCluster(2, { RAGCAST_BUILTIN_TOKEN_DELAY_MS: "20" });
  });
  after(async () => {
    await cluster?.stop();
  });

  test("has its reply marked interrupted by another node, which sends the terminal message_complete", async () => {
    const [a, b] = cluster.nodes;
    const { project, chat } = await seedProject(b.url, [{ filename: "long.txt", content: LONG_DOC }]);
    const watcher = await connect(b.url, "websocket");
    await request(watcher, "join_project", { project_id: project.id });
    const sender = await connect(a.url, "websocket");
    const ack = await request(sender, "send_message", { chat_id: chat.id, message: "water facts", top_k: 10 });
    // Past the first flush (500 ms), so part of the reply is stored.
    await nextEvent(watcher, "message_token", (d) => d.message_id === ack.message_id && d.index >= 40, 10000);
    await sleep(600);
    const killedAt = performance.now();
    a.proc.kill("SIGKILL");
    const complete = await nextEvent(watcher, "message_complete", (d) => d.message_id === ack.message_id, 15000);
    const took = performance.now() - killedAt;
    assert.equal(complete.metadata.finish_reason, "error");
    const error = watcher.events.find((e) => e.event === "error" && e.data.message_id === ack.message_id);
    assert.equal(error?.data.code, "generation_failed");
    assert.ok(watcher.events.indexOf(error) < watcher.events.findIndex((e) => e.event === "message_complete" && e.data.message_id === ack.message_id));
    assert.ok(took < 2000 + 2000, `taken over after ${took} ms (lease 2 s + one check)`);
    assert.equal(watcher.events.filter((e) => e.event === "message_complete" && e.data.message_id === ack.message_id).length, 1);
    const stored = (await api(b.url, "GET", `/api/chats/${chat.id}/messages`)).body.find((m) => m.id === ack.message_id);
    assert.equal(stored.status, "interrupted");
    assert.ok(stored.content.length > 0, "the flushed part of the reply is kept");
    assert.ok(complete.content.startsWith(stored.content.slice(0, 10)));
    const streamed = watcher.events.filter((e) => e.event === "message_token" && e.data.message_id === ack.message_id).map((e) => e.data.token).join("");
    assert.ok(streamed.startsWith(complete.content), "what was stored is a prefix of what was streamed");
    watcher.disconnect();
  });
});

describe("Redis restarted under running processes", { skip: skipReason ?? false }, () => {
  let redis;
  let cluster;
  before(async () => {
    // A private Redis: restarting the shared one would disturb other users of the machine.
    redis = await startRedis();
    cluster = await startCluster(2, {}, { redisUrl: redis.url });
  });
  after(async () => {
    await cluster?.stop();
    await redis?.kill();
  });

  test("the nodes report not ready, reconnect by themselves, and room delivery resumes", async () => {
    const [a, b] = cluster.nodes;
    const { project } = await seedProject(a.url);
    const onB = await connect(b.url, "websocket");
    await request(onB, "join_project", { project_id: project.id });
    const announce = async (n) => {
      const res = await api(a.url, "POST", `/api/projects/${project.id}/updates`, { project_id: project.id, type: "project_updated", data: { n } });
      assert.ok(res.status < 300, JSON.stringify(res.body));
    };
    await announce(1);
    await nextEvent(onB, "project_update", (d) => d.data?.n === 1);

    await redis.kill();
    for (const node of [a, b]) {
      await waitFor(async () => (await api(node.url, "GET", "/ready")).status === 503, 10000, 100);
      assert.equal((await api(node.url, "GET", "/ready")).body.redis, "unreachable");
    }
    assert.match(a.log(), /Redis does not answer/);

    redis = await startRedis(redis.port);
    for (const node of [a, b]) await waitFor(async () => (await api(node.url, "GET", "/ready")).status === 200, 20000, 100);
    assert.match(a.log(), /Redis answers again/);
    // Subscriptions are restored as well: events cross nodes again.
    await waitFor(async () => {
      await announce(2);
      await sleep(100);
      return onB.events.some((e) => e.event === "project_update" && e.data.data?.n === 2);
    }, 10000, 0);
    onB.disconnect();
  });
});

describe("a Redis that hangs", { skip: skipReason ?? false }, () => {
  let redis;
  let cluster;
  let node;
  before(async () => {
    redis = await startRedis();
    cluster = await startCluster(1, {}, { redisUrl: redis.url });
    node = cluster.nodes[0];
  });
  after(async () => {
    redis?.pause(false);
    await cluster?.stop();
    await redis?.kill();
  });

  test("makes /ready answer 503 within about a second, and 200 once it answers again", async () => {
    assert.equal((await api(node.url, "GET", "/ready")).status, 200);
    redis.pause();
    const paused = Date.now();
    await waitFor(async () => (await api(node.url, "GET", "/ready")).status === 503, 5000, 50);
    const took = Date.now() - paused;
    assert.ok(took < 2500, `not ready after ${took} ms`);
    redis.pause(false);
    await waitFor(async () => (await api(node.url, "GET", "/ready")).status === 200, 10000, 100);
  });
});

describe("ai_progress to user: rooms across nodes (jwt)", { skip: skipReason ?? false }, () => {
  const SECRET = "cluster-secret";
  const KEY = "cluster-api-key";
  let cluster;
  before(async () => {
    cluster = await startCluster(2, { RAGCAST_AUTH: "jwt", RAGCAST_JWT_SECRET: SECRET, RAGCAST_API_KEY: KEY });
  });
  after(async () => {
    await cluster?.stop();
  });

  test("a user's second device on another node follows the generation", async () => {
    const [a, b] = cluster.nodes;
    const call = async (url, method, path, body) => {
      const res = await fetch(url + path, {
        method,
        headers: { authorization: `Bearer ${KEY}`, "content-type": "application/json" },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      return res.json();
    };
    const project = await call(a.url, "POST", "/api/projects", { name: "p" });
    const chat = await call(a.url, "POST", `/api/projects/${project.id}/chats`, { title: "c" });
    const token = hs256({ sub: "alice", projects: [project.id], exp: now() + 600 }, SECRET);
    const laptop = await connect(a.url, "websocket", { auth: { token } });
    const phone = await connect(b.url, "polling", { auth: { token } });
    const ack = await request(laptop, "send_message", { chat_id: chat.id, message: "hello" });
    const done = await nextEvent(phone, "ai_progress", (d) => d.message_id === ack.message_id && d.type === "completion", 30000);
    const texts = phone.events.filter((e) => e.event === "ai_progress" && e.data.message_id === ack.message_id && e.data.type === "text").map((e) => e.data.text);
    assert.equal(texts.join(""), done.text);
    laptop.disconnect();
    phone.disconnect();
  });
});
