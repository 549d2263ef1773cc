// A back end's stream across processes (PROTOCOL §9.3): pieces posted to any node reach the
// node running the stream, in order; a killed node's stream ends `interrupted` within the lease.
import { test } from "node:test";
import assert from "node:assert/strict";
import { api, connect, nextEvent, request, streamEvents, waitFor } from "../test/helpers.js";
import { skipReason, startCluster } from "./cluster.js";

const post = async (url, path, lines) => {
  const res = await fetch(url + path, { method: "POST", headers: { "content-type": "application/x-ndjson" }, body: lines.map((l) => JSON.stringify(l)).join("\n") + "\n" });
  return { status: res.status, body: await res.json() };
};

test("pieces posted alternately to two nodes reach every receiver complete and in order; a kill -9 interrupts within the lease", { skip: skipReason ?? false }, async () => {
  const cluster = await startCluster(2);
  try {
    const [a, b] = cluster.nodes;
    const project = (await api(a.url, "POST", "/api/projects", { name: "p" })).body;
    const chat = (await api(a.url, "POST", `/api/projects/${project.id}/chats`, {})).body;
    const onA = await connect(a.url, "websocket");
    const onB = await connect(b.url, "polling");
    for (const s of [onA, onB]) await request(s, "join_project", { project_id: project.id });

    const started = await api(a.url, "POST", `/api/chats/${chat.id}/streams`, { user_message: { content: "Q" } });
    const id = started.body.message_id;
    const tokens = Array.from({ length: 200 }, (_, i) => `w${i} `);
    let seq = 0;
    for (let batch = 0; batch < 10; batch++) {
      const lines = batch === 4 ? [{ seq: seq++, type: "step", step: { id: "s", name: "mid", status: "done" } }] : [];
      for (const text of tokens.slice(batch * 20, batch * 20 + 20)) lines.push({ seq: seq++, type: "token", text });
      const node = batch % 2 === 0 ? a : b;
      const answer = await post(node.url, `/api/messages/${id}/pieces`, lines);
      assert.equal(answer.status, 200, `batch ${batch} through ${node === a ? "A" : "B"}: ${JSON.stringify(answer.body)}`);
    }
    // A retry of an earlier batch through the other node changes nothing.
    const retry = await post(b.url, `/api/messages/${id}/pieces`, tokens.slice(0, 20).map((text, i) => ({ seq: i, type: "token", text })));
    assert.equal(retry.status, 200);
    const end = await post(b.url, `/api/messages/${id}/pieces`, [{ seq: seq++, type: "end", finish_reason: "stop" }]);
    assert.equal(end.body.status, "complete");
    for (const s of [onA, onB]) {
      const complete = await nextEvent(s, "message_complete", (d) => d.message_id === id, 20000);
      assert.equal(complete.content, tokens.join(""));
      const indices = streamEvents(s, id).filter((e) => e.event === "message_token").map((e) => e.data.index);
      assert.deepEqual(indices, tokens.map((_, i) => i));
      assert.equal(streamEvents(s, id).filter((e) => e.event === "message_step").length, 1);
    }

    // A stream started through B runs on B; B killed: A's receiver gets it ended `interrupted`
    // within the lease (2 s).
    const second = (await api(b.url, "POST", `/api/chats/${chat.id}/streams`, {})).body.message_id;
    await post(a.url, `/api/messages/${second}/pieces`, [{ type: "token", text: "partial " }]);
    await nextEvent(onA, "message_token", (d) => d.message_id === second);
    // Saved every --flush-interval-ms: what a node that dies has said is kept from its last save.
    await waitFor(async () => (await api(a.url, "GET", `/api/messages/${second}`)).body.content === "partial ", 5000);
    const killedAt = Date.now();
    b.proc.kill("SIGKILL");
    const ended = await nextEvent(onA, "message_complete", (d) => d.message_id === second, 15000);
    console.log(`# interrupted ${Date.now() - killedAt} ms after the kill (lease 2 s)`);
    assert.equal(ended.metadata.finish_reason, "error");
    assert.equal(ended.content, "partial ");
    assert.equal((await api(a.url, "GET", `/api/messages/${second}`)).body.status, "interrupted");
    onA.disconnect();
    onB.disconnect();
  } finally {
    await cluster.stop();
  }
});
