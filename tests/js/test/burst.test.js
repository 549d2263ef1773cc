// A 500-token stream to 200 sockets in one room: complete and in order at every socket.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startServer, seedProject, connect, request, nextEvent } from "./helpers.js";

const RECEIVERS = 200;
const MIN_TOKENS = 500;
// Enough relevant sentences that the built-in answer runs past 500 tokens.
const DOC = Array.from({ length: 120 }, (_, i) => `Burst sentence ${i} talks about rivers and water flowing downhill.`).join(" ");

let server;
before(async () => {
  server = await startServer({ RAGCAST_BUILTIN_MAX_TOKENS: "600" });
});
after(async () => {
  await server.stop();
});

test(`a ${MIN_TOKENS}+ token stream reaches ${RECEIVERS} sockets complete and in order`, async () => {
  const { project, chat } = await seedProject(server.url, [{ filename: "burst.txt", content: DOC }]);
  const receivers = [];
  for (let i = 0; i < RECEIVERS; i += 20) {
    const batch = await Promise.all(Array.from({ length: 20 }, () => connect(server.url, "websocket")));
    await Promise.all(batch.map((s) => request(s, "join_project", { project_id: project.id })));
    receivers.push(...batch);
  }
  const sender = receivers[0];
  const ack = await request(sender, "send_message", { chat_id: chat.id, message: "rivers water", top_k: 50 });
  const completes = await Promise.all(
    receivers.map((s) => nextEvent(s, "message_complete", (d) => d.message_id === ack.message_id, 60000)),
  );
  const expected = completes[0];
  assert.ok(expected.metadata.tokens >= MIN_TOKENS, `only ${expected.metadata.tokens} tokens`);
  for (const [i, socket] of receivers.entries()) {
    assert.deepEqual(completes[i], expected);
    const tokens = socket.events.filter((e) => e.event === "message_token" && e.data.message_id === ack.message_id);
    assert.equal(tokens.length, expected.metadata.tokens, `socket ${i} lost tokens`);
    tokens.forEach((t, index) => assert.equal(t.data.index, index, `socket ${i} out of order`));
    assert.equal(tokens.map((t) => t.data.token).join(""), expected.content);
    assert.ok(socket.connected, `socket ${i} was disconnected`);
  }
  for (const s of receivers) s.disconnect();
});
