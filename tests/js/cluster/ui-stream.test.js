// The AI SDK's resume (GET /api/chats/{id}/ui-stream) on another node than the one streaming the
// reply: it replays the reply from its start and follows it to its end (issue 18).
import { test, describe } from "node:test";
import assert from "node:assert/strict";
import { DefaultChatTransport, readUIMessageStream } from "ai";
import { api, seedProject, LONG_DOC } from "../test/helpers.js";
import { skipReason, startCluster } from "./cluster.js";

describe("the UI message stream across nodes", { skip: skipReason ?? false }, () => {
  test("a resume on node B follows a reply node A streams, from its start to its end", async () => {
    const cluster = await startCluster(2, { RAGCAST_BUILTIN_TOKEN_DELAY_MS: "10", RAGCAST_FLUSH_INTERVAL_MS: "100" });
    try {
      const [a, b] = cluster.nodes;
      const { chat } = await seedProject(a.url, [{ filename: "long.txt", content: LONG_DOC }]);
      const started = await api(a.url, "POST", `/api/chats/${chat.id}/messages?wait=false`, { message: "water facts", top_k: 10 });
      assert.equal(started.status, 202);
      const messageId = started.body.message_id;

      const streamUrl = `${b.url}/api/chats/${chat.id}/ui-stream`;
      const transport = new DefaultChatTransport({ api: streamUrl, prepareReconnectToStreamRequest: () => ({ api: streamUrl }) });
      const stream = await transport.reconnectToStream({ chatId: String(chat.id) });
      assert.ok(stream, "node B sees the reply node A streams");
      let message;
      for await (const snapshot of readUIMessageStream({ stream, terminateOnError: true })) message = snapshot;
      assert.equal(Number(message.id), messageId);
      const text = message.parts.filter((p) => p.type === "text").map((p) => p.text).join("");
      const stored = (await api(a.url, "GET", `/api/messages/${messageId}`)).body;
      assert.equal(stored.status, "complete");
      assert.equal(text, stored.content, "the whole reply, from its start");
      assert.ok(message.parts.some((p) => p.type === "source-document" && p.title === "long.txt"));
      assert.equal(await transport.reconnectToStream({ chatId: String(chat.id) }), null);
    } finally {
      await cluster.stop();
    }
  });
});
