// Semantic retrieval through the real binary (built-in embedder, SQLite and PostgreSQL): a
// paraphrase that shares no word with its passage is found and answered over socket.io.
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { startServer, seedProject, connect, request, nextEvent, TRANSPORTS } from "./helpers.js";

const MODEL_DIR = process.env.RAGCAST_EMBEDDER_MODEL_DIR ?? join(homedir(), ".cache/ragcast/models/all-MiniLM-L6-v2");
const present = existsSync(join(MODEL_DIR, "model.safetensors"));
if (!present && process.env.RAGCAST_TEST_REQUIRE_MODEL) throw new Error(`no model in ${MODEL_DIR}: run scripts/fetch-model`);
const skip = present ? false : `the built-in model is not in ${MODEL_DIR} (run scripts/fetch-model)`;

const POLICIES = [
  { filename: "refunds.txt", content: "Customers may return purchased items within 30 days for a full reimbursement. Items must be unused." },
  { filename: "security.txt", content: "All staff accounts must use two-factor authentication. Passwords must be at least twelve characters long." },
  { filename: "shipping.txt", content: "Orders ship within two business days. Express delivery is available for an extra fee." },
];

for (const transport of TRANSPORTS) {
  test(`a paraphrase is found by meaning and answered over ${transport}`, { skip }, async () => {
    const server = await startServer({ RAGCAST_EMBEDDER: "builtin" });
    const { project, chat } = await seedProject(server.url, POLICIES);
    const socket = await connect(server.url, transport);
    await request(socket, "join_project", { project_id: project.id });
    const ack = await request(socket, "send_message", { chat_id: chat.id, message: "Do I need 2FA?" });
    assert.equal(ack.ok, true);
    const sources = await nextEvent(socket, "message_sources", (d) => d.message_id === ack.message_id);
    assert.equal(sources.sources[0].metadata.filename, "security.txt");
    assert.equal(sources.sources[0].metadata.retrieval, "vector");
    const scores = sources.sources.map((s) => s.score);
    assert.ok(scores.every((s) => s >= 0 && s <= 1) && scores.every((s, i) => i === 0 || scores[i - 1] >= s), JSON.stringify(scores));
    const complete = await nextEvent(socket, "message_complete", (d) => d.message_id === ack.message_id, 20000);
    assert.match(complete.content, /two-factor authentication/);
    socket.disconnect();
    await server.stop();
  });
}
