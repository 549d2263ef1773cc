// The Vercel AI SDK's UI message stream (issue 18): the real `ai` package's DefaultChatTransport
// and readUIMessageStream against POST/GET /api/chats/{id}/ui-stream, the same pipeline run the
// project room sees over Socket.IO.
import { test } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import { DefaultChatTransport, readUIMessageStream } from "ai";
import { startServer, seedProject, connect, request, nextEvent, api, LONG_DOC } from "./helpers.js";

/** A transport for one ragcast chat, as the README tells a `useChat` app to make it. */
function transportFor(base, chatId, headers = {}) {
  const api = `${base}/api/chats/${chatId}/ui-stream`;
  return new DefaultChatTransport({ api, headers, prepareReconnectToStreamRequest: () => ({ api }) });
}

let nextUserId = 0;
function userMessage(text) {
  nextUserId += 1;
  return { id: `user-${process.pid}-${nextUserId}`, role: "user", parts: [{ type: "text", text }] };
}

function send(transport, chatId, messages, { abortSignal, body } = {}) {
  return transport.sendMessages({ chatId: String(chatId), messages, trigger: "submit-message", messageId: undefined, abortSignal, body });
}

/** The assembled assistant message and the raw chunk types, once the stream ends. */
async function assemble(chunks) {
  const types = [];
  const errors = [];
  const counted = chunks.pipeThrough(
    new TransformStream({
      transform(chunk, controller) {
        types.push(chunk.type);
        controller.enqueue(chunk);
      },
    }),
  );
  let message;
  for await (const snapshot of readUIMessageStream({ stream: counted, onError: (e) => errors.push(e) })) message = snapshot;
  return { message, types, errors };
}

const text = (message) => message.parts.filter((p) => p.type === "text").map((p) => p.text).join("");

test("useChat's transport streams a sourced answer; the project room sees the same run", async () => {
  const server = await startServer();
  try {
    const { project, chat } = await seedProject(server.url);
    const watcher = await connect(server.url, "websocket");
    await request(watcher, "join_project", { project_id: project.id });
    const chunks = await send(transportFor(server.url, chat.id), chat.id, [userMessage("At what temperature does water boil?")], { body: { top_k: 3 } });
    const { message, types, errors } = await assemble(chunks);
    assert.deepEqual(errors, []);
    assert.equal(types[0], "start");
    assert.equal(types.at(-1), "finish");
    const messageId = Number(message.id);
    assert.equal(message.metadata.chat_id, chat.id);
    assert.equal(message.metadata.message_id, messageId);
    const sources = message.parts.filter((p) => p.type === "source-document");
    assert.ok(sources.length >= 1 && sources.length <= 3, `top_k 3: ${sources.length} sources`);
    assert.ok(sources.every((s) => s.title === "water.txt" && s.mediaType === "text/plain"));
    assert.match(text(message), /100 degrees/);

    // Same run: the room got its tokens and completion, and the stored reply is the streamed one.
    const complete = await nextEvent(watcher, "message_complete", (d) => d.message_id === messageId);
    assert.equal(complete.content, text(message));
    const tokens = watcher.events.filter((e) => e.event === "message_token" && e.data.message_id === messageId);
    assert.equal(tokens.map((e) => e.data.token).join(""), text(message));
    const stored = (await api(server.url, "GET", `/api/chats/${chat.id}/messages`)).body;
    assert.equal(stored.find((m) => m.id === messageId).content, text(message));
    watcher.disconnect();
  } finally {
    await server.stop();
  }
});

test("the response is an SSE stream with the SDK's header, ending with [DONE]; bad bodies name the field", async () => {
  const server = await startServer();
  try {
    const { chat } = await seedProject(server.url);
    const res = await fetch(`${server.url}/api/chats/${chat.id}/ui-stream`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ id: "c", trigger: "submit-message", messages: [userMessage("water boils")] }),
    });
    assert.equal(res.status, 200);
    assert.match(res.headers.get("content-type"), /^text\/event-stream/);
    assert.equal(res.headers.get("x-vercel-ai-ui-message-stream"), "v1");
    const lines = (await res.text()).split("\n").filter((l) => l.startsWith("data: "));
    assert.equal(lines.at(-1), "data: [DONE]");
    assert.equal(JSON.parse(lines[0].slice(6)).type, "start");

    const noUser = await api(server.url, "POST", `/api/chats/${chat.id}/ui-stream`, { messages: [{ role: "assistant", parts: [] }] });
    assert.equal(noUser.status, 400);
    assert.match(noUser.body.error.message, /`messages`/);
    const badK = await api(server.url, "POST", `/api/chats/${chat.id}/ui-stream`, { top_k: 500, messages: [userMessage("q")] });
    assert.equal(badK.status, 400);
    assert.match(badK.body.error.message, /`top_k`/);
    const missing = await api(server.url, "POST", `/api/chats/999999/ui-stream`, { messages: [userMessage("q")] });
    assert.equal(missing.status, 404);
  } finally {
    await server.stop();
  }
});

test("a client that goes away does not stop the reply; resume replays it from the start and follows it, then 204", async () => {
  const server = await startServer({ RAGCAST_BUILTIN_TOKEN_DELAY_MS: "10" });
  try {
    const { chat } = await seedProject(server.url, [{ filename: "long.txt", content: LONG_DOC }]);
    const transport = transportFor(server.url, chat.id);
    const abort = new AbortController();
    const chunks = await send(transport, chat.id, [userMessage("water facts")], { abortSignal: abort.signal, body: { top_k: 10 } });
    const reader = chunks.getReader();
    let messageId;
    for (let deltas = 0; deltas < 5; ) {
      const { value } = await reader.read();
      if (value.type === "start") messageId = Number(value.messageId);
      if (value.type === "text-delta") deltas += 1;
    }
    abort.abort(); // the tab closes
    await reader.cancel().catch(() => {});

    const resumed = await transport.reconnectToStream({ chatId: String(chat.id) });
    assert.ok(resumed, "a reply of the chat is streaming");
    const { message, types } = await assemble(resumed);
    assert.equal(Number(message.id), messageId, "the same message, so the client replaces it in place");
    assert.equal(types.filter((t) => t === "start").length, 1);
    assert.equal(types.at(-1), "finish");
    const stored = (await api(server.url, "GET", `/api/messages/${messageId}`)).body;
    assert.equal(stored.status, "complete");
    assert.equal(text(message), stored.content, "replayed from the start: the whole reply");

    assert.equal(await transport.reconnectToStream({ chatId: String(chat.id) }), null, "204 once nothing streams");
  } finally {
    await server.stop();
  }
});

test("POST /api/messages/{id}/cancel ends the UI stream with abort; a resubmitted message gets the first reply", async () => {
  const server = await startServer({ RAGCAST_BUILTIN_TOKEN_DELAY_MS: "20" });
  try {
    const { chat } = await seedProject(server.url, [{ filename: "long.txt", content: LONG_DOC }]);
    const transport = transportFor(server.url, chat.id);
    const question = userMessage("water facts");
    const chunks = await send(transport, chat.id, [question], { body: { top_k: 10 } });
    const reader = chunks.getReader();
    const types = [];
    let messageId;
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      types.push(value.type);
      if (value.type === "start") messageId = Number(value.messageId);
      if (value.type === "text-delta" && types.filter((t) => t === "text-delta").length === 3) {
        const cancelled = await api(server.url, "POST", `/api/messages/${messageId}/cancel`);
        assert.equal(cancelled.status, 202);
      }
    }
    assert.equal(types.at(-1), "abort");
    assert.ok(types.includes("text-end"), "the open text part is closed first");

    // The AI SDK resends the same user message (same id) after a network error: not generated again.
    const again = await assemble(await send(transport, chat.id, [question]));
    assert.equal(Number(again.message.id), messageId);
    const rows = (await api(server.url, "GET", `/api/chats/${chat.id}/messages`)).body;
    assert.equal(rows.filter((m) => m.role === "user").length, 1);
  } finally {
    await server.stop();
  }
});

/** An OpenAI-compatible stub: reasoning then text, or a failure after a first piece. */
async function openAiStub(mode) {
  const server = http.createServer((req, res) => {
    req.resume();
    req.on("end", () => {
      res.writeHead(200, { "content-type": "text/event-stream" });
      const delta = (d) => res.write(`data: ${JSON.stringify({ choices: [{ delta: d, finish_reason: null }] })}\n\n`);
      delta({ reasoning_content: "Looking at " });
      delta({ reasoning_content: "the sources." });
      delta({ content: "Water boils " });
      if (mode === "fail") {
        res.write("data: {not json\n\n");
        return res.end();
      }
      delta({ content: "at 100 degrees." });
      res.write(`data: ${JSON.stringify({ choices: [{ delta: {}, finish_reason: "stop" }] })}\n\n`);
      res.end("data: [DONE]\n\n");
    });
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { url: `http://127.0.0.1:${server.address().port}/v1`, close: () => server.close() };
}

for (const mode of ["reasoning", "fail"]) {
  test(`a provider's ${mode === "fail" ? "failure arrives as error then finish" : "reasoning arrives as a reasoning part before the text"}`, async () => {
    const stub = await openAiStub(mode);
    const server = await startServer({ RAGCAST_LLM: "openai", RAGCAST_LLM_BASE_URL: stub.url, RAGCAST_LLM_MODEL: "stub" });
    try {
      const { chat } = await seedProject(server.url);
      const { message, types, errors } = await assemble(await send(transportFor(server.url, chat.id), chat.id, [userMessage("water boils?")]));
      const reasoning = message.parts.filter((p) => p.type === "reasoning");
      assert.equal(reasoning.map((p) => p.text).join(""), "Looking at the sources.");
      assert.ok(types.indexOf("reasoning-end") < types.indexOf("text-start"));
      if (mode === "fail") {
        assert.deepEqual(types.slice(-2), ["error", "finish"]);
        assert.equal(errors.length, 1);
        assert.equal(text(message), "Water boils ");
      } else {
        assert.deepEqual(errors, []);
        assert.equal(text(message), "Water boils at 100 degrees.");
      }
    } finally {
      await server.stop();
      stub.close();
    }
  });
}

test("in jwt mode the stream needs a token that may see the project", async () => {
  const server = await startServer({ RAGCAST_AUTH: "jwt", RAGCAST_JWT_SECRET: "ui-stream-secret", RAGCAST_API_KEY: "ui-stream-key" });
  try {
    const admin = { authorization: "Bearer ui-stream-key", "content-type": "application/json" };
    const project = await (await fetch(`${server.url}/api/projects`, { method: "POST", headers: admin, body: JSON.stringify({ name: "p" }) })).json();
    const chat = await (await fetch(`${server.url}/api/projects/${project.id}/chats`, { method: "POST", headers: admin, body: "{}" })).json();
    const anonymous = await fetch(`${server.url}/api/chats/${chat.id}/ui-stream`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ messages: [userMessage("q")] }),
    });
    assert.equal(anonymous.status, 401);
    const { message } = await assemble(await send(transportFor(server.url, chat.id, { authorization: "Bearer ui-stream-key" }), chat.id, [userMessage("hello")]));
    assert.ok(message.parts.some((p) => p.type === "text"));
    const resume = await fetch(`${server.url}/api/chats/${chat.id}/ui-stream`);
    assert.equal(resume.status, 401);
  } finally {
    await server.stop();
  }
});
