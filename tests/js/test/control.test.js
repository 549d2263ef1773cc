// Cancel, disconnect mid-stream and resume, against a paced generator so streams are live.
import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import {
  TRANSPORTS, startServer, seedProject, connect, request, nextEvent, streamEvents, api, sleep, waitFor,
  LONG_DOC,
} from "./helpers.js";

function tokensOf(socket, messageId) {
  return socket.events.filter((e) => e.event === "message_token" && e.data.message_id === messageId).map((e) => e.data);
}

for (const transport of TRANSPORTS) {
  describe(`stream control over ${transport}`, () => {
    let server;
    before(async () => {
      server = await startServer({ RAGCAST_BUILTIN_TOKEN_DELAY_MS: "15" });
    });
    after(async () => {
      await server.stop();
    });

    test("cancel_message ends a live stream within 200 ms and stores the partial reply", async () => {
      const { project, chat } = await seedProject(server.url, [{ filename: "long.txt", content: LONG_DOC }]);
      const sender = await connect(server.url, transport);
      const roommate = await connect(server.url, transport);
      await request(roommate, "join_project", { project_id: project.id });
      const ack = await request(sender, "send_message", { chat_id: chat.id, message: "water facts", top_k: 10 });
      await nextEvent(roommate, "message_token", (d) => d.message_id === ack.message_id && d.index >= 3);
      const cancelledAt = performance.now();
      const cancelAck = await request(roommate, "cancel_message", { message_id: ack.message_id });
      assert.deepEqual(cancelAck, { ok: true, message_id: ack.message_id });
      const complete = await nextEvent(sender, "message_complete", (d) => d.message_id === ack.message_id);
      assert.ok(performance.now() - cancelledAt < 200, `cancel took ${performance.now() - cancelledAt} ms`);
      assert.equal(complete.metadata.finish_reason, "cancelled");
      const tokens = tokensOf(sender, ack.message_id);
      assert.ok(tokens.length >= 4);
      assert.equal(complete.content, tokens.map((t) => t.token).join(""));
      const stored = (await api(server.url, "GET", `/api/chats/${chat.id}/messages`)).body.find((m) => m.id === ack.message_id);
      assert.equal(stored.status, "cancelled");
      assert.equal(stored.finish_reason, "cancelled");
      assert.equal(stored.content, complete.content);
      // A finished stream cannot be cancelled.
      const late = await request(sender, "cancel_message", { message_id: ack.message_id });
      assert.equal(late.error.code, "not_found");
      sender.disconnect();
      roommate.disconnect();
    });

    test("a sender that disconnects mid-stream does not stop or lose the reply", async () => {
      const { project, chat } = await seedProject(server.url, [{ filename: "long.txt", content: LONG_DOC }]);
      const watcher = await connect(server.url, transport);
      await request(watcher, "join_project", { project_id: project.id });
      const sender = await connect(server.url, transport);
      const ack = await request(sender, "send_message", { chat_id: chat.id, message: "water facts", top_k: 10 });
      await nextEvent(sender, "message_token", (d) => d.message_id === ack.message_id && d.index >= 2);
      sender.disconnect();
      const complete = await nextEvent(watcher, "message_complete", (d) => d.message_id === ack.message_id, 30000);
      assert.equal(complete.metadata.finish_reason, "stop");
      assert.ok(complete.metadata.tokens > 100, `only ${complete.metadata.tokens} tokens`);
      const stored = (await api(server.url, "GET", `/api/chats/${chat.id}/messages`)).body.find((m) => m.id === ack.message_id);
      assert.equal(stored.status, "complete");
      assert.equal(stored.content, complete.content);
      watcher.disconnect();
    });

    test("reconnect, re-join and resume_message give exactly the full reply", async () => {
      const { project, chat } = await seedProject(server.url, [{ filename: "long.txt", content: LONG_DOC }]);
      const first = await connect(server.url, transport);
      await request(first, "join_project", { project_id: project.id });
      const ack = await request(first, "send_message", { chat_id: chat.id, message: "water facts", top_k: 10 });
      await nextEvent(first, "message_token", (d) => d.message_id === ack.message_id && d.index >= 5);
      first.disconnect();
      const seen = tokensOf(first, ack.message_id);
      const lastIndex = seen.at(-1).index;

      const second = await connect(server.url, transport);
      await request(second, "join_project", { project_id: project.id });
      const resumed = await request(second, "resume_message", { message_id: ack.message_id, after_index: lastIndex });
      assert.deepEqual(resumed, { ok: true, message_id: ack.message_id });
      const complete = await nextEvent(second, "message_complete", (d) => d.message_id === ack.message_id, 30000);
      // The client keeps tokens by index: a token seen twice is the same token.
      const byIndex = new Map();
      for (const t of [...seen, ...tokensOf(second, ack.message_id)]) {
        if (byIndex.has(t.index)) assert.equal(byIndex.get(t.index), t.token, `index ${t.index} differs`);
        byIndex.set(t.index, t.token);
      }
      const indices = [...byIndex.keys()].sort((a, b) => a - b);
      assert.deepEqual(indices, indices.map((_, i) => i), "no index missing");
      assert.equal(indices.map((i) => byIndex.get(i)).join(""), complete.content);
      assert.equal(indices.length, complete.metadata.tokens);
      const stored = (await api(server.url, "GET", `/api/chats/${chat.id}/messages`)).body.find((m) => m.id === ack.message_id);
      assert.equal(indices.map((i) => byIndex.get(i)).join(""), stored.content, "the joined tokens equal the stored reply");
      assert.ok(!tokensOf(second, ack.message_id).some((t) => t.index <= lastIndex && !byIndex.has(t.index)));
      second.disconnect();
    });

    test("resume_message of a finished stream replays it from the database", async () => {
      const { chat } = await seedProject(server.url);
      const sender = await connect(server.url, transport);
      const ack = await request(sender, "send_message", { chat_id: chat.id, message: "water boil" });
      const complete = await nextEvent(sender, "message_complete", (d) => d.message_id === ack.message_id, 30000);
      const live = streamEvents(sender, ack.message_id).filter((e) => e.event !== "message_received");

      const later = await connect(server.url, transport);
      await request(later, "resume_message", { message_id: ack.message_id });
      await nextEvent(later, "message_complete", (d) => d.message_id === ack.message_id);
      const replay = streamEvents(later, ack.message_id);
      assert.deepEqual(replay, live, "sources, tokens and message_complete exactly as streamed");

      const tail = await connect(server.url, transport);
      await request(tail, "resume_message", { message_id: ack.message_id, after_index: 2 });
      await nextEvent(tail, "message_complete", (d) => d.message_id === ack.message_id);
      const tailTokens = tokensOf(tail, ack.message_id);
      assert.equal(tailTokens[0].index, 3);
      assert.equal(tailTokens.length, complete.metadata.tokens - 3);
      assert.ok(!tail.events.some((e) => e.event === "message_sources"));
      for (const s of [sender, later, tail]) s.disconnect();
    });
  });
}
