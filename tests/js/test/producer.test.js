// Streams a back end produces (PROTOCOL §9.3): every room member gets them as it gets a
// generated reply — in order, with gapless indices, steps and tool calls included — and they are
// stored, resumed, retried, refused, cancelled and timed out as the contract says.
import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { startServer, seedProject, connect, request, nextEvent, api, streamEvents, TRANSPORTS, waitFor } from "./helpers.js";
import { hs256, now } from "./jwt.js";
import { DefaultChatTransport, readUIMessageStream } from "ai";

const TOKENS = Array.from({ length: 500 }, (_, i) => `w${i} `);

/** The pieces of a whole agent answer, with `seq` 0, 1, 2, … */
function agentAnswer() {
  const pieces = [
    { type: "sources", sources: [{ content: "Boiling point table", metadata: { url: "https://example.test/table", title: "Table" }, score: 0.9 }, { content: "A note", score: 0.4 }] },
    { type: "reasoning", text: "Looking it up. " },
    { type: "step", step: { id: "s1", name: "search", status: "started" } },
    { type: "tool_call", call: { id: "c1", name: "lookup", arguments: { q: "boiling point" } } },
    { type: "tool_result", call_id: "c1", result: { celsius: 100 } },
    { type: "step", step: { id: "s1", name: "search", status: "done", progress: 100 } },
    ...TOKENS.map((text) => ({ type: "token", text })),
    { type: "end", finish_reason: "stop", usage: { prompt_tokens: 12, completion_tokens: 500 } },
  ];
  return pieces.map((piece, seq) => ({ seq, ...piece }));
}

const ndjson = (pieces) => pieces.map((p) => JSON.stringify(p)).join("\n") + "\n";

async function post(url, path, body, { type = "application/x-ndjson", token } = {}) {
  const headers = { "content-type": type };
  if (token) headers.authorization = `Bearer ${token}`;
  const res = await fetch(url + path, { method: "POST", headers, body });
  const text = await res.text();
  let parsed = text;
  try {
    parsed = JSON.parse(text);
  } catch {}
  return { status: res.status, body: parsed };
}

for (const transport of TRANSPORTS) {
  describe(`a back end's stream over ${transport}`, () => {
    let server;
    before(async () => {
      server = await startServer();
    });
    after(() => server.stop());

    test("sources, reasoning, steps, tool calls and 500 tokens reach every member in order and are stored", async () => {
      const { project, chat } = await seedProject(server.url, []);
      const members = [await connect(server.url, transport), await connect(server.url, transport)];
      for (const m of members) await request(m, "join_project", { project_id: project.id });
      const started = await api(server.url, "POST", `/api/chats/${chat.id}/streams`, {
        user_message: { content: "When does water boil?", client_message_id: "q-1", sender: { user_id: "u-9", name: "Ann" } },
        model: "my-agent",
        task_id: `agent-${transport}`,
        stream_key: `k-${transport}`,
      });
      assert.equal(started.status, 201, JSON.stringify(started.body));
      const { message_id: messageId, user_message_id: userMessageId } = started.body;
      const again = await api(server.url, "POST", `/api/chats/${chat.id}/streams`, { stream_key: `k-${transport}`, user_message: { content: "When does water boil?", client_message_id: "q-1" } });
      assert.equal(again.status, 200);
      assert.deepEqual(again.body, { message_id: messageId, user_message_id: userMessageId });

      // Half the answer, then two late members resume mid-stream (one by one, and compact).
      const pieces = agentAnswer();
      const half = await post(server.url, `/api/messages/${messageId}/pieces`, ndjson(pieces.slice(0, 256)));
      assert.equal(half.status, 200, JSON.stringify(half.body));
      assert.equal(half.body.last_index, 249);
      const [resumer, compact] = [await connect(server.url, transport), await connect(server.url, transport)];
      for (const late of [resumer, compact]) await request(late, "join_project", { project_id: project.id });
      await request(resumer, "resume_message", { message_id: messageId });
      await request(compact, "resume_message", { message_id: messageId, compact: true });
      const midSnapshot = await nextEvent(compact, "message_snapshot", (d) => d.message_id === messageId);
      assert.equal(midSnapshot.status, "streaming");
      assert.equal(midSnapshot.last_index, 249);
      assert.equal(midSnapshot.last_action_index, 3);
      const answer = await post(server.url, `/api/messages/${messageId}/pieces`, ndjson(pieces.slice(256)));
      assert.equal(answer.status, 200, JSON.stringify(answer.body));
      assert.equal(answer.body.cancelled, false);
      const resumed = await nextEvent(resumer, "message_complete", (d) => d.message_id === messageId, 20000);
      assert.equal(resumed.content, TOKENS.join(""));
      const byIndex = new Map();
      for (const e of streamEvents(resumer, messageId)) if (e.event === "message_token") byIndex.set(e.data.index, e.data.token);
      assert.deepEqual([...byIndex.keys()].sort((x, y) => x - y), TOKENS.map((_, i) => i), "every index, whether replayed or live");
      assert.equal([...byIndex.entries()].sort((x, y) => x[0] - y[0]).map(([, t]) => t).join(""), TOKENS.join(""));
      assert.deepEqual(await nextEvent(compact, "message_complete", (d) => d.message_id === messageId, 20000), resumed);
      const tail = compact.events.slice(compact.events.findIndex((e) => e.event === "message_snapshot") + 1);
      const tailTokens = tail.filter((e) => e.event === "message_token" && e.data.message_id === messageId).map((e) => e.data);
      assert.deepEqual(tailTokens.map((t) => t.index), TOKENS.slice(250).map((_, i) => 250 + i), "the live tail follows the snapshot");
      assert.equal(midSnapshot.content + tailTokens.map((t) => t.token).join(""), TOKENS.join(""));

      for (const member of members) {
        const complete = await nextEvent(member, "message_complete", (d) => d.message_id === messageId, 20000);
        const events = streamEvents(member, messageId).map((e) => e.event);
        const created = member.events.find((e) => e.event === "message_created" && e.data.message.id === userMessageId);
        assert.deepEqual(created.data.message.sender, { user_id: "u-9", name: "Ann" });
        assert.deepEqual(events.slice(0, 7), ["message_received", "message_sources", "message_reasoning", "message_step", "message_tool_call", "message_tool_result", "message_step"]);
        assert.equal(events.at(-1), "message_complete");
        const sources = member.events.find((e) => e.event === "message_sources" && e.data.message_id === messageId).data.sources;
        assert.deepEqual(sources.map((s) => [s.id, s.content, s.score]), [[1, "Boiling point table", 0.9], [2, "A note", 0.4]]);
        assert.deepEqual(sources[0].metadata, { url: "https://example.test/table", title: "Table" });
        const actions = streamEvents(member, messageId).filter((e) => ["message_step", "message_tool_call", "message_tool_result"].includes(e.event)).map((e) => e.data);
        assert.deepEqual(actions.map((a) => a.index), [0, 1, 2, 3]);
        assert.deepEqual(actions[1].call, { id: "c1", name: "lookup", arguments: { q: "boiling point" } });
        assert.deepEqual([actions[2].call_id, actions[2].result, actions[2].error], ["c1", { celsius: 100 }, null]);
        const tokens = streamEvents(member, messageId).filter((e) => e.event === "message_token").map((e) => e.data);
        assert.deepEqual(tokens.map((t) => t.index), TOKENS.map((_, i) => i));
        assert.equal(complete.content, TOKENS.join(""));
        assert.equal(complete.content, tokens.map((t) => t.token).join(""));
        assert.deepEqual([complete.metadata.model, complete.metadata.tokens, complete.metadata.finish_reason], ["my-agent", 500, "stop"]);
        assert.deepEqual(complete.metadata.usage, { prompt_tokens: 12, completion_tokens: 500 });
      }

      const stored = (await api(server.url, "GET", `/api/messages/${messageId}`)).body;
      assert.equal(stored.content, TOKENS.join(""));
      assert.equal(stored.status, "complete");
      assert.deepEqual(stored.steps, [{ id: "s1", name: "search", status: "done", progress: 100 }]);
      assert.deepEqual(stored.tool_calls, [{ id: "c1", name: "lookup", arguments: { q: "boiling point" }, result: { celsius: 100 }, error: null }]);

      // Resume after the end: the very same events; compact: one snapshot with the steps.
      const late = await connect(server.url, transport);
      await request(late, "resume_message", { message_id: messageId });
      const replayed = await nextEvent(late, "message_complete", (d) => d.message_id === messageId);
      assert.equal(replayed.content, TOKENS.join(""));
      const replayedEvents = streamEvents(late, messageId).map((e) => e.event);
      assert.deepEqual(replayedEvents.slice(0, 6), ["message_sources", "message_reasoning", "message_step", "message_tool_call", "message_tool_result", "message_step"]);
      await request(late, "resume_message", { message_id: messageId, compact: true });
      const snapshot = await nextEvent(late, "message_snapshot", (d) => d.message_id === messageId);
      assert.equal(snapshot.content, TOKENS.join(""));
      assert.deepEqual(snapshot.steps, stored.steps);
      assert.deepEqual(snapshot.tool_calls, stored.tool_calls);
      assert.equal(snapshot.last_action_index, 3);

      // Pieces after the end are refused.
      const afterEnd = await post(server.url, `/api/messages/${messageId}/pieces`, ndjson([{ type: "token", text: "x" }]));
      assert.equal(afterEnd.status, 409);
      for (const s of [...members, late, resumer, compact]) s.disconnect();
    });
  });
}

describe("retries, refusals, cancel and silence", () => {
  let server, project, chat, cancels, cancelUrl, cancelServer;
  before(async () => {
    server = await startServer({ RAGCAST_PRODUCER_IDLE_SECS: "1" });
    ({ project, chat } = await seedProject(server.url, []));
    cancels = [];
    cancelServer = createServer((req, res) => {
      let body = "";
      req.on("data", (c) => (body += c));
      req.on("end", () => {
        cancels.push(JSON.parse(body));
        res.end("ok");
      });
    });
    await new Promise((r) => cancelServer.listen(0, "127.0.0.1", r));
    cancelUrl = `http://127.0.0.1:${cancelServer.address().port}/cancelled`;
  });
  after(async () => {
    cancelServer.close();
    await server.stop();
  });

  const start = async (body = {}) => (await api(server.url, "POST", `/api/chats/${chat.id}/streams`, body)).body.message_id;

  test("a retried piece is never doubled; a gap is 409 naming the expected seq", async () => {
    const socket = await connect(server.url, "websocket");
    await request(socket, "join_project", { project_id: project.id });
    const id = await start();
    const first = [0, 1, 2].map((seq) => ({ seq, type: "token", text: `t${seq} ` }));
    assert.equal((await post(server.url, `/api/messages/${id}/pieces`, ndjson(first))).status, 200);
    const retried = await post(server.url, `/api/messages/${id}/pieces`, JSON.stringify([...first, { seq: 3, type: "token", text: "t3 " }]), { type: "application/json" });
    assert.equal(retried.status, 200);
    assert.equal(retried.body.last_index, 3);
    const gap = await post(server.url, `/api/messages/${id}/pieces`, ndjson([{ seq: 7, type: "token", text: "x" }]));
    assert.equal(gap.status, 409);
    assert.match(gap.body.error.message, /next expected is 4/);
    await post(server.url, `/api/messages/${id}/pieces`, ndjson([{ seq: 4, type: "end", finish_reason: "stop" }]));
    const complete = await nextEvent(socket, "message_complete", (d) => d.message_id === id);
    assert.equal(complete.content, "t0 t1 t2 t3 ");
    const tokens = streamEvents(socket, id).filter((e) => e.event === "message_token").map((e) => e.data.index);
    assert.deepEqual(tokens, [0, 1, 2, 3]);
    socket.disconnect();
  });

  test("a malformed line ends the stream failed, naming the line and the field; the room gets message_complete", async () => {
    const socket = await connect(server.url, "polling");
    await request(socket, "join_project", { project_id: project.id });
    const id = await start();
    const body = ndjson([{ type: "token", text: "fine " }]) + JSON.stringify({ type: "step", step: { id: "s", name: "x", status: "dancing" } }) + "\n";
    const answer = await post(server.url, `/api/messages/${id}/pieces`, body);
    assert.equal(answer.status, 422);
    assert.match(answer.body.error.message, /line 2/);
    assert.match(answer.body.error.message, /step\.status/);
    const error = await nextEvent(socket, "error", (e) => e.message_id === id);
    assert.equal(error.code, "generation_failed");
    assert.match(error.message, /line 2.*step\.status/);
    const complete = await nextEvent(socket, "message_complete", (d) => d.message_id === id);
    assert.equal(complete.metadata.finish_reason, "error");
    assert.equal((await api(server.url, "GET", `/api/messages/${id}`)).body.status, "failed");
    socket.disconnect();
  });

  test("a cancel from a socket reaches the room, the producer's next answer and its cancel_url", async () => {
    const socket = await connect(server.url, "websocket");
    await request(socket, "join_project", { project_id: project.id });
    const id = await start({ cancel_url: cancelUrl });
    await post(server.url, `/api/messages/${id}/pieces`, ndjson([{ type: "token", text: "a " }]));
    const cancelledAt = Date.now();
    assert.equal((await request(socket, "cancel_message", { message_id: id })).ok, true);
    const complete = await nextEvent(socket, "message_complete", (d) => d.message_id === id);
    assert.equal(complete.metadata.finish_reason, "cancelled");
    assert.ok(Date.now() - cancelledAt < 200, "within 200 ms");
    const next = await post(server.url, `/api/messages/${id}/pieces`, ndjson([{ type: "token", text: "b " }]));
    assert.equal(next.status, 200);
    assert.equal(next.body.cancelled, true);
    assert.equal((await api(server.url, "GET", `/api/messages/${id}`)).body.status, "cancelled");
    await waitFor(() => cancels.some((c) => c.message_id === id), 5000);
    assert.deepEqual(cancels.find((c) => c.message_id === id), { message_id: id, chat_id: chat.id, reason: "cancelled" });
    socket.disconnect();
  });

  test("a cancel over HTTP too", async () => {
    const socket = await connect(server.url, "polling");
    await request(socket, "join_project", { project_id: project.id });
    const id = await start();
    await post(server.url, `/api/messages/${id}/pieces`, ndjson([{ type: "token", text: "a " }]));
    const cancelledAt = Date.now();
    assert.equal((await api(server.url, "POST", `/api/messages/${id}/cancel`)).status, 202);
    const complete = await nextEvent(socket, "message_complete", (d) => d.message_id === id);
    assert.equal(complete.metadata.finish_reason, "cancelled");
    assert.ok(Date.now() - cancelledAt < 200, "within 200 ms");
    socket.disconnect();
    await waitFor(async () => (await api(server.url, "GET", `/api/messages/${id}`)).body.status === "cancelled", 5000);
    const next = await post(server.url, `/api/messages/${id}/pieces`, ndjson([{ type: "token", text: "b " }]));
    assert.equal(next.body.cancelled, true);
  });

  test("an AI SDK stop cancels when the transport asks for it (?cancel_on_stop=true); a plain one only leaves", async () => {
    const socket = await connect(server.url, "websocket");
    await request(socket, "join_project", { project_id: project.id });
    const id = await start({ cancel_url: cancelUrl });
    await post(server.url, `/api/messages/${id}/pieces`, ndjson([{ type: "token", text: "a " }]));
    const follow = async (query) => {
      const url = `${server.url}/api/chats/${chat.id}/ui-stream${query}`;
      const transport = new DefaultChatTransport({ api: url, prepareReconnectToStreamRequest: () => ({ api: url }) });
      const stop = new AbortController();
      const reader = (await transport.reconnectToStream({ chatId: String(chat.id), abortSignal: stop.signal })).getReader();
      const texts = [];
      const readUntil = async (text) => {
        while (!texts.join("").includes(text)) {
          const { value, done } = await reader.read();
          if (done) throw new Error(`the stream ended before ${text}`);
          if (value.type === "text-delta") texts.push(value.delta);
        }
      };
      return { stop, readUntil };
    };
    // A plain follower's stop is a tab closing (PROTOCOL §8): the reply goes on.
    const plain = await follow("");
    await plain.readUntil("a ");
    plain.stop.abort();
    const stopping = await follow("?cancel_on_stop=true");
    await stopping.readUntil("a ");
    const goesOn = await post(server.url, `/api/messages/${id}/pieces`, ndjson([{ type: "token", text: "b " }]));
    assert.equal(goesOn.body.cancelled, false);
    await stopping.readUntil("a b ");
    // useChat's stop() aborts the request it follows with.
    const stoppedAt = Date.now();
    stopping.stop.abort();
    const complete = await nextEvent(socket, "message_complete", (d) => d.message_id === id);
    assert.equal(complete.metadata.finish_reason, "cancelled");
    assert.equal(complete.content, "a b ");
    assert.ok(Date.now() - stoppedAt < 200, `within 200 ms (${Date.now() - stoppedAt} ms)`);
    const next = await post(server.url, `/api/messages/${id}/pieces`, ndjson([{ type: "token", text: "c " }]));
    assert.equal(next.body.cancelled, true);
    await waitFor(() => cancels.some((c) => c.message_id === id), 5000);
    socket.disconnect();
  });

  test("a back end that goes silent past --producer-idle-secs ends failed", async () => {
    const socket = await connect(server.url, "websocket");
    await request(socket, "join_project", { project_id: project.id });
    const id = await start();
    await post(server.url, `/api/messages/${id}/pieces`, ndjson([{ type: "token", text: "then silence" }]));
    const error = await nextEvent(socket, "error", (e) => e.message_id === id, 10000);
    assert.match(error.message, /the back end stopped sending/);
    const complete = await nextEvent(socket, "message_complete", (d) => d.message_id === id);
    assert.equal(complete.metadata.finish_reason, "error");
    assert.equal((await api(server.url, "GET", `/api/messages/${id}`)).body.status, "failed");
    socket.disconnect();
  });
});

describe("producer routes in jwt mode", () => {
  let server, chat;
  const SECRET = "producer-secret";
  const KEY = "producer-key";
  before(async () => {
    server = await startServer({ RAGCAST_AUTH: "jwt", RAGCAST_JWT_SECRET: SECRET, RAGCAST_API_KEY: KEY });
    const headers = { authorization: `Bearer ${KEY}`, "content-type": "application/json" };
    const project = await (await fetch(`${server.url}/api/projects`, { method: "POST", headers, body: JSON.stringify({ name: "p" }) })).json();
    chat = await (await fetch(`${server.url}/api/projects/${project.id}/chats`, { method: "POST", headers, body: "{}" })).json();
  });
  after(() => server.stop());

  test("a user token is 403 and no token 401, on both routes", async () => {
    const user = hs256({ sub: "u", exp: now() + 600, projects: "*" }, SECRET);
    for (const path of [`/api/chats/${chat.id}/streams`, "/api/messages/1/pieces"]) {
      assert.equal((await post(server.url, path, "{}", { type: "application/json", token: user })).status, 403, path);
      assert.equal((await post(server.url, path, "{}", { type: "application/json" })).status, 401, path);
    }
    const ok = await post(server.url, `/api/chats/${chat.id}/streams`, "{}", { type: "application/json", token: KEY });
    assert.equal(ok.status, 201);
  });
});

test("the AI SDK follows a back end's stream: its sources, tool calls, steps and text", async () => {
  const server = await startServer();
  try {
    const { chat } = await seedProject(server.url, []);
    const started = await api(server.url, "POST", `/api/chats/${chat.id}/streams`, { user_message: { content: "When does water boil?" } });
    const messageId = started.body.message_id;
    const pieces = agentAnswer().slice(0, 10);
    await post(server.url, `/api/messages/${messageId}/pieces`, ndjson(pieces));
    // useChat({ resume: true }) reconnects to the chat's live stream.
    const api_ = `${server.url}/api/chats/${chat.id}/ui-stream`;
    const transport = new DefaultChatTransport({ api: api_, prepareReconnectToStreamRequest: () => ({ api: api_ }) });
    const chunks = await transport.reconnectToStream({ chatId: String(chat.id) });
    const rest = agentAnswer().slice(10);
    await post(server.url, `/api/messages/${messageId}/pieces`, ndjson(rest));
    const errors = [];
    let message;
    for await (const snapshot of readUIMessageStream({ stream: chunks, onError: (e) => errors.push(e) })) message = snapshot;
    assert.deepEqual(errors, []);
    const types = message.parts.map((p) => p.type);
    assert.ok(types.includes("source-document"), types.join(","));
    const tool = message.parts.find((p) => p.type === "dynamic-tool" || p.type.startsWith("tool-"));
    assert.ok(tool, `a tool part: ${types.join(",")}`);
    assert.equal(tool.toolCallId, "c1");
    assert.deepEqual(tool.input, { q: "boiling point" });
    assert.deepEqual(tool.output, { celsius: 100 });
    const step = message.parts.find((p) => p.type === "data-step");
    assert.deepEqual(step.data, { id: "s1", name: "search", status: "done", progress: 100 }, "the step's last state");
    const text = message.parts.filter((p) => p.type === "text").map((p) => p.text).join("");
    assert.equal(text, TOKENS.join(""));
  } finally {
    await server.stop();
  }
});
