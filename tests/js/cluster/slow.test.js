// A receiver on another node than the stream's that falls behind gets the tokens merged the
// same way (room events reach each node's sockets through their outboxes), while a fast one on
// that node gets every token (issue 17).
import { test, describe } from "node:test";
import assert from "node:assert/strict";
import { api, connect, nextEvent, request, seedProject, sleep } from "../test/helpers.js";
import { assertRangesCover, receiverProcess } from "../test/slow.js";
import { skipReason, startCluster } from "./cluster.js";

const RIVERS = Array.from({ length: 400 }, (_, i) => `Sentence ${i} is about rivers and water.`).join(" ");

describe("slow receivers across nodes", { skip: skipReason ?? false }, () => {
  test("a receiver paused on node B while node A streams gets merged tokens, not a disconnect", async () => {
    const cluster = await startCluster(2, {
      RAGCAST_SOCKET_BUFFER: "1024",
      RAGCAST_SOCKET_HIGH_WATER: "128",
      RAGCAST_POLLING_MAX_PACKETS: "128",
      RAGCAST_BUILTIN_MAX_TOKENS: "2000",
      RAGCAST_BUILTIN_TOKEN_DELAY_MS: "1",
      RAGCAST_CHUNK_SIZE: "4000",
    });
    try {
      const [a, b] = cluster.nodes;
      const { project, chat } = await seedProject(a.url, [{ filename: "rivers.txt", content: RIVERS }]);
      const slow = await receiverProcess(b.url, project.id, "polling");
      const fast = await connect(b.url, "websocket");
      assert.equal((await request(fast, "join_project", { project_id: project.id })).ok, true);
      const started = await api(a.url, "POST", `/api/chats/${chat.id}/messages?wait=false`, { message: "rivers water", top_k: 50 });
      assert.equal(started.status, 202);
      const messageId = started.body.message_id;
      await nextEvent(fast, "message_token", (d) => d.message_id === messageId && d.index >= 50);
      slow.child.kill("SIGSTOP");
      await sleep(2000);
      slow.child.kill("SIGCONT");
      const { tokens, complete, disconnects } = await slow.result;
      assert.equal(disconnects, 0);
      assert.equal(complete.metadata.tokens, 2000);
      assert.ok(tokens.length < 2000, `merged: ${tokens.length} events for 2 000 tokens`);
      assert.equal(tokens.map((t) => t.token).join(""), complete.content);
      assertRangesCover(tokens, 1999);
      await nextEvent(fast, "message_complete", (d) => d.message_id === messageId, 20000);
      const own = fast.events.filter((e) => e.event === "message_token" && e.data.message_id === messageId).map((e) => e.data);
      assert.equal(own.length, 2000);
      assert.ok(own.every((t, i) => t.index === i && t.from_index === undefined));
      fast.disconnect();
    } finally {
      await cluster.stop();
    }
  });
});
