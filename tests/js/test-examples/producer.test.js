// examples/producer: a Python back end (httpx, batches of pieces) and a Node one (one long
// NDJSON request) stream an OpenAI-compatible model's answer, a tool step and 500 tokens into a
// chat; both room members get everything in order, and the stored reply holds it.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { createServer } from "node:http";
import { homedir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { startServer, seedProject, connect, request, nextEvent, api, streamEvents } from "../test/helpers.js";

const TOKENS = Array.from({ length: 500 }, (_, i) => `t${i} `);
const PYTHON = join(process.env.RAGCAST_PYENV ?? join(homedir(), ".cache", "ragcast-pyenv"), "bin", "python");
const EXAMPLES = new URL("../../../examples/producer/", import.meta.url).pathname;

/** An OpenAI-compatible model server that streams TOKENS. */
function modelStub() {
  const server = createServer((req, res) => {
    req.resume();
    req.on("end", () => {
      res.writeHead(200, { "content-type": "text/event-stream" });
      for (const token of TOKENS) res.write(`data: ${JSON.stringify({ choices: [{ delta: { content: token } }] })}\n\n`);
      res.end("data: [DONE]\n\n");
    });
  });
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve(server)));
}

let server, model, modelUrl;
before(async () => {
  server = await startServer();
  model = await modelStub();
  modelUrl = `http://127.0.0.1:${model.address().port}/v1`;
});
after(async () => {
  model.close();
  await server.stop();
});

for (const [name, command, file] of [
  ["Python", PYTHON, "producer.py"],
  ["Node", process.execPath, "producer.mjs"],
]) {
  test(`the ${name} producer streams into a chat that every member follows`, async () => {
    const { project, chat } = await seedProject(server.url, []);
    const members = [await connect(server.url, "websocket"), await connect(server.url, "polling")];
    for (const m of members) await request(m, "join_project", { project_id: project.id });
    const { stdout } = await promisify(execFile)(command, [EXAMPLES + file, server.url, String(chat.id), "When does water boil?", "--model-url", modelUrl, "--model", "stub"], { timeout: 60000 });
    const messageId = Number(/as message (\d+)/.exec(stdout)?.[1]);
    assert.ok(messageId > 0, stdout);
    for (const member of members) {
      const complete = await nextEvent(member, "message_complete", (d) => d.message_id === messageId, 20000);
      assert.equal(complete.content, TOKENS.join(""));
      const events = streamEvents(member, messageId);
      const tokens = events.filter((e) => e.event === "message_token").map((e) => e.data);
      assert.deepEqual(tokens.map((t) => t.index), TOKENS.map((_, i) => i));
      assert.deepEqual(
        events.filter((e) => e.event.startsWith("message_step") || e.event.startsWith("message_tool")).map((e) => [e.event, e.data.index]),
        [["message_step", 0], ["message_tool_call", 1], ["message_tool_result", 2], ["message_step", 3]],
      );
      assert.ok(events.some((e) => e.event === "message_sources"));
      assert.ok(events.some((e) => e.event === "message_reasoning"));
    }
    const stored = (await api(server.url, "GET", `/api/messages/${messageId}`)).body;
    assert.equal(stored.content, TOKENS.join(""));
    assert.equal(stored.tool_calls[0].name, "search");
    assert.equal(stored.steps[0].status, "done");
    for (const m of members) m.disconnect();
  });
}
