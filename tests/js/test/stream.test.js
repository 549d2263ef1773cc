// The chat stream (PROTOCOL §5) over both transports.
import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import {
  TRANSPORTS, CLIENT, startServer, seedProject, connect, request, nextEvent, settled, streamEvents, api, sleep, waitFor, closeAll,
} from "./helpers.js";

// socket.io-client 2.x keeps `ping` for itself (a reserved event name that never leaves the
// client): its sockets cannot send ragcast's `ping` event.
const CAN_PING = CLIENT !== "2.x";

const STREAM_EVENTS = ["message_received", "message_sources", "message_reasoning", "message_token", "error", "message_complete"];

/** Checks order, index contiguity and content of one stream as a socket saw it; returns it. */
function assertWellFormed(socket, messageId) {
  const events = streamEvents(socket, messageId).filter((e) => STREAM_EVENTS.includes(e.event));
  const names = events.map((e) => e.event);
  assert.equal(names[0], "message_received", names.join(","));
  assert.equal(names[1], "message_sources", names.join(","));
  assert.equal(names.at(-1), "message_complete");
  assert.equal(names.filter((n) => n === "message_complete").length, 1, "exactly one message_complete");
  assert.equal(names.filter((n) => n === "message_received").length, 1, "each event once");
  const tokens = events.filter((e) => e.event === "message_token").map((e) => e.data);
  tokens.forEach((t, i) => assert.equal(t.index, i, "token indices are 0, 1, 2, … without gaps"));
  const complete = events.at(-1).data;
  assert.equal(complete.content, tokens.map((t) => t.token).join(""));
  assert.equal(complete.metadata.tokens, tokens.length);
  return { events, tokens, complete, sources: events[1].data.sources };
}

for (const transport of TRANSPORTS) {
  describe(`chat stream over ${transport}`, () => {
    let server;
    before(async () => {
      server = await startServer();
    });
    after(async () => {
      await server.stop();
    });

    test("a sourced answer streams to the room and the sender, in order", async () => {
      const { project, chat } = await seedProject(server.url);
      const other = await seedProject(server.url);
      const sender = await connect(server.url, transport);
      const roommate = await connect(server.url, transport);
      const outsider = await connect(server.url, transport);
      await request(roommate, "join_project", { project_id: project.id });
      await request(outsider, "join_project", { project_id: other.project.id });
      // The sender is not in the room: it still receives every event of its stream.
      const ack = await request(sender, "send_message", { chat_id: chat.id, message: "At what temperature does water boil?" });
      assert.equal(ack.ok, true);
      assert.equal(ack.duplicate, false);
      const messageId = ack.message_id;
      await nextEvent(roommate, "message_complete", (d) => d.message_id === messageId);
      await nextEvent(sender, "message_complete", (d) => d.message_id === messageId);

      for (const socket of [sender, roommate]) {
        const { complete, sources, events } = assertWellFormed(socket, messageId);
        assert.equal(events[0].data.chat_id, chat.id);
        assert.equal(events[0].data.user_message_id, ack.user_message_id);
        assert.match(events[0].data.created_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
        assert.ok(sources.length > 0 && sources.length <= 5);
        for (const s of sources) {
          assert.ok(s.score >= 0 && s.score <= 1);
          assert.equal(s.metadata.filename, "water.txt");
          assert.equal(s.metadata.page, null);
          assert.equal(typeof s.metadata.chunk_index, "number");
        }
        const scores = sources.map((s) => s.score);
        assert.deepEqual(scores, [...scores].sort((a, b) => b - a));
        assert.match(complete.content, /Water boils at 100 degrees Celsius at sea level\. \[1\]/);
        assert.equal(complete.metadata.finish_reason, "stop");
        assert.equal(complete.metadata.model, "builtin");
        assert.equal(complete.metadata.sources_count, sources.length);
        assert.equal(typeof complete.metadata.first_token_ms, "number");
        assert.equal(typeof complete.metadata.duration_ms, "number");
      }
      await settled(outsider);
      assert.equal(streamEvents(outsider, messageId).length, 0, "another project's room gets nothing");

      // The reply is stored with its final content and status.
      const stored = (await api(server.url, "GET", `/api/chats/${chat.id}/messages`)).body;
      const reply = stored.find((m) => m.id === messageId);
      const question = stored.find((m) => m.id === ack.user_message_id);
      assert.equal(question.role, "user");
      assert.equal(question.status, "complete");
      assert.equal(reply.role, "assistant");
      assert.equal(reply.status, "complete");
      assert.equal(reply.finish_reason, "stop");
      assert.equal(reply.content, streamEvents(sender, messageId).find((e) => e.event === "message_complete").data.content);
      assert.ok(Array.isArray(reply.sources) && reply.sources.length > 0);
      closeAll(sender, roommate, outsider);
    });

    test("ai_progress goes to the task room and its text joins to the content", async () => {
      const { chat } = await seedProject(server.url);
      const follower = await connect(server.url, transport);
      const sender = await connect(server.url, transport);
      assert.deepEqual(await request(follower, "task_subscribe", { task_id: "task-42" }), { ok: true, task_id: "task-42" });
      const ack = await request(sender, "send_message", { chat_id: chat.id, message: "water boil", task_id: "task-42" });
      const completion = await nextEvent(follower, "ai_progress", (d) => d.type === "completion");
      const chunks = follower.events.filter((e) => e.event === "ai_progress" && e.data.type === "text").map((e) => e.data);
      assert.ok(chunks.length > 0);
      assert.ok(chunks.every((c) => c.partial === true && c.task_id === "task-42" && c.message_id === ack.message_id));
      assert.equal(chunks.map((c) => c.text).join(""), completion.text);
      assert.equal(completion.partial, false);
      assert.equal(completion.finish_reason, "stop");
      // Without task_id, the task is the message id.
      await request(follower, "task_unsubscribe", { task_id: "task-42" });
      const ack2 = await request(sender, "send_message", { chat_id: chat.id, message: "ice" });
      await nextEvent(sender, "message_complete", (d) => d.message_id === ack2.message_id);
      await settled(follower);
      assert.equal(follower.events.filter((e) => e.event === "ai_progress" && e.data.message_id === ack2.message_id).length, 0);
      const byId = await connect(server.url, transport);
      // Ids run user, assistant, user, assistant…: the next reply is two ids on.
      await request(byId, "task_subscribe", { task_id: String(ack2.message_id + 2) });
      const ack3 = await request(sender, "send_message", { chat_id: chat.id, message: "ice melts" });
      assert.equal(ack3.message_id, ack2.message_id + 2);
      const done = await nextEvent(byId, "ai_progress", (d) => d.type === "completion");
      assert.equal(done.task_id, String(ack3.message_id));
      closeAll(follower, sender, byId);
    });

    test("a repeated client_message_id is not stored or generated again", async () => {
      const { project, chat } = await seedProject(server.url);
      const sender = await connect(server.url, transport);
      const roommate = await connect(server.url, transport);
      await request(roommate, "join_project", { project_id: project.id });
      const first = await request(sender, "send_message", { chat_id: chat.id, message: "water", client_message_id: "c-1" });
      const done = await nextEvent(sender, "message_complete", (d) => d.message_id === first.message_id);
      await nextEvent(roommate, "message_complete", (d) => d.message_id === first.message_id);
      const before = roommate.events.length;
      const again = await request(sender, "send_message", { chat_id: chat.id, message: "water", client_message_id: "c-1" });
      assert.equal(again.duplicate, true);
      assert.equal(again.message_id, first.message_id);
      const received = sender.events.filter((e) => e.event === "message_received" && e.data.duplicate === true);
      assert.equal(received.length, 1);
      assert.equal(received[0].data.user_message_id, first.user_message_id);
      assert.equal(received[0].data.client_message_id, "c-1");
      // The sender gets the replay as resume_message without after_index sends it (PROTOCOL §5
      // step 2): sources, then the very same (index, token) pairs, then the same complete.
      const completes = () => sender.events.filter((e) => e.event === "message_complete" && e.data.message_id === first.message_id);
      await waitFor(() => completes().length === 2);
      assert.deepEqual(completes()[1].data, done);
      const tokens = sender.events.filter((e) => e.event === "message_token" && e.data.message_id === first.message_id).map((e) => e.data);
      assert.equal(tokens.length, 2 * done.metadata.tokens, "every token twice: live, then replayed");
      assert.deepEqual(tokens.slice(done.metadata.tokens), tokens.slice(0, done.metadata.tokens));
      const replayStart = sender.events.findIndex((e) => e.event === "message_received" && e.data.duplicate === true);
      const replayed = sender.events.slice(replayStart).map((e) => e.event);
      assert.deepEqual(replayed.filter((e) => e !== "message_token"), ["message_received", "message_sources", "message_complete"]);
      assert.ok(!sender.events.some((e) => e.event === "message_snapshot"), "no snapshot unless asked");
      // With `compact: true`, one snapshot instead, then the same complete.
      const compact = await request(sender, "send_message", { chat_id: chat.id, message: "water", client_message_id: "c-1", compact: true });
      assert.equal(compact.duplicate, true);
      await waitFor(() => completes().length === 3);
      assert.deepEqual(completes()[2].data, done);
      const snapshot = await nextEvent(sender, "message_snapshot", (d) => d.message_id === first.message_id);
      assert.equal(snapshot.content, done.content);
      assert.equal(snapshot.status, "complete");
      assert.equal(snapshot.last_index, done.metadata.tokens - 1);
      assert.equal(
        sender.events.filter((e) => e.event === "message_token" && e.data.message_id === first.message_id).length,
        2 * done.metadata.tokens,
        "no tokens with the snapshot",
      );
      await settled(roommate);
      assert.equal(roommate.events.filter((e) => e.event !== "pong").length, before);
      const stored = (await api(server.url, "GET", `/api/chats/${chat.id}/messages`)).body;
      assert.equal(stored.length, 2, "one question and one reply");
      closeAll(sender, roommate);
    });

    test("invalid payloads get invalid_payload naming the field, and the socket stays usable", async () => {
      const socket = await connect(server.url, transport);
      const cases = [
        ["join_project", "nope", "object"],
        ["join_project", {}, "project_id"],
        ["join_project", { project_id: "abc" }, "project_id"],
        ["join_project", { project_id: -3 }, "project_id"],
        ["leave_project", { project_id: 1.5 }, "project_id"],
        ["send_message", { message: "hi" }, "chat_id"],
        ["send_message", { chat_id: 1, message: "   " }, "message"],
        ["send_message", { chat_id: 1, message: "x".repeat(32769) }, "message"],
        ["send_message", { chat_id: 1, message: "hi", temperature: 3 }, "temperature"],
        ["send_message", { chat_id: 1, message: "hi", top_k: 51 }, "top_k"],
        ["send_message", { chat_id: 1, message: "hi", include_history: "yes" }, "include_history"],
        ["send_message", { chat_id: 1, message: "hi", client_message_id: "x".repeat(129) }, "client_message_id"],
        ["cancel_message", { message_id: "x" }, "message_id"],
        ["typing_start", { chat_id: null }, "chat_id"],
        ["typing_stop", [], "object"],
        ["task_subscribe", { task_id: 5 }, "task_id"],
        ["task_unsubscribe", { task_id: "x".repeat(129) }, "task_id"],
        ["resume_message", { message_id: 1, after_index: -1 }, "after_index"],
        ...(CAN_PING ? [["ping", { timestamp: "now" }, "timestamp"]] : []),
      ];
      for (const [event, payload, field] of cases) {
        const errorSeen = nextEvent(socket, "error", (d) => d.event === event && d.message.includes(field));
        const ack = await request(socket, event, payload);
        assert.equal(ack.ok, false, `${event} ${JSON.stringify(payload).slice(0, 60)}`);
        assert.equal(ack.error.code, "invalid_payload");
        assert.ok(ack.error.message.includes(field), `${event}: ${ack.error.message}`);
        const error = await errorSeen;
        assert.equal(error.code, "invalid_payload");
        socket.events = [];
      }
      // Without an ack callback the error event still comes.
      socket.emit("join_project", { project_id: "zz" });
      const error = await nextEvent(socket, "error", (d) => d.event === "join_project");
      assert.equal(error.code, "invalid_payload");
      const usable = CAN_PING ? await request(socket, "ping", { timestamp: 5 }) : await request(socket, "task_subscribe", { task_id: "t" });
      assert.equal(usable.ok, true);
      assert.ok(socket.connected);
      socket.disconnect();
    });

    test("unknown ids get not_found and nothing is stored", async () => {
      const socket = await connect(server.url, transport);
      const cases = [
        ["join_project", { project_id: 999999 }],
        ["send_message", { chat_id: 999999, message: "hi" }],
        ["cancel_message", { message_id: 999999 }],
        ["resume_message", { message_id: 999999 }],
        ["typing_start", { chat_id: 999999 }],
      ];
      for (const [event, payload] of cases) {
        const ack = await request(socket, event, payload);
        assert.equal(ack.ok, false, event);
        assert.equal(ack.error.code, "not_found", event);
        const error = await nextEvent(socket, "error", (d) => d.event === event);
        assert.equal(error.code, "not_found");
      }
      const sendError = socket.events.find((e) => e.event === "error" && e.data.event === "send_message");
      assert.equal(sendError.data.chat_id, 999999);
      socket.disconnect();
    });
  });
}
