// Hostile and unlucky documents: decompression bombs and other PDFs over a limit fail naming the
// limit while the server keeps serving (and its memory stays bounded); an ingestion cut off by
// kill -9 starts again at the next start; NUL characters are refused alike on every database.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { startServer, seedProject, connect, request, nextEvent, api, waitFor, LONG_DOC } from "./helpers.js";
import { buildPdf, textPage, blankPage, uploadFile } from "./pdf.js";

const MIB = 1024 * 1024;

/** The server process's resident memory now and at its peak, in MiB (Linux /proc). */
function memory(pid) {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const field = (name) => Number(new RegExp(`${name}:\\s+(\\d+) kB`).exec(status)[1]) / 1024;
  return { rss: field("VmRSS"), peak: field("VmHWM") };
}

async function settled(url, projectId, documentId, timeoutMs = 60000) {
  let row;
  await waitFor(async () => {
    const docs = (await api(url, "GET", `/api/projects/${projectId}/documents`)).body;
    row = docs.find((d) => d.id === documentId);
    return row && (row.status === "completed" || row.status === "failed");
  }, timeoutMs, 50);
  return row;
}

test("a decompression bomb fails naming the limit while a stream completes, and memory stays bounded", async (t) => {
  const server = await startServer({ RAGCAST_BUILTIN_TOKEN_DELAY_MS: "3" });
  const { project, chat } = await seedProject(server.url, [{ filename: "long.txt", content: LONG_DOC }]);
  const before = memory(server.proc.pid);
  // One page whose 200 MB of content compresses to a few hundred KB.
  const bomb = buildPdf([blankPage(200 * MIB)], { flate: true });
  assert.ok(bomb.length < 1 * MIB, `the bomb is ${bomb.length} bytes`);

  const socket = await connect(server.url, "websocket");
  await request(socket, "join_project", { project_id: project.id });
  const ack = await request(socket, "send_message", { chat_id: chat.id, message: "water facts", top_k: 10 });
  await nextEvent(socket, "message_token", (d) => d.message_id === ack.message_id);
  const upload = await uploadFile(server.url, project.id, "bomb.pdf", bomb);
  assert.equal(upload.status, 202, JSON.stringify(upload.body));

  const failed = await nextEvent(socket, "document_status", (d) => d.document_id === upload.body.id && d.status === "failed", 60000);
  assert.match(failed.error, /--pdf-max-stream-mb/);
  const complete = await nextEvent(socket, "message_complete", (d) => d.message_id === ack.message_id, 60000);
  assert.equal(complete.metadata.finish_reason, "stop");
  const row = await settled(server.url, project.id, upload.body.id);
  assert.equal(row.status, "failed");
  assert.match(row.error, /64 MiB/);

  const after = memory(server.proc.pid);
  t.diagnostic(`server RSS before ${before.rss.toFixed(1)} MiB, peak ${after.peak.toFixed(1)} MiB, after ${after.rss.toFixed(1)} MiB; bomb ${bomb.length} bytes`);
  // Generous: the server itself never inflates the stream (the extraction child does).
  assert.ok(after.peak < before.rss + 150, `peak RSS ${after.peak} MiB (was ${before.rss} MiB)`);
  assert.equal((await api(server.url, "GET", "/health")).status, 200);
  socket.disconnect();
  await server.stop();
});

test("every PDF limit fails the document with a reason naming its setting", async () => {
  const server = await startServer({
    RAGCAST_PDF_MAX_STREAM_MB: "4",
    RAGCAST_PDF_MAX_INFLATED_MB: "6",
    RAGCAST_PDF_MAX_PAGES: "3",
    RAGCAST_PDF_MAX_TEXT_MB: "1",
    // The cap counts the whole child, binary included (a debug build maps ~60 MB): 200 MiB
    // leaves text.pdf ~35 MiB to spare and is far below what memory.pdf needs (over 240).
    RAGCAST_PDF_MEMORY_MB: "200",
  });
  const { project } = await seedProject(server.url);
  const shows = (n) => Buffer.from(`BT /F1 12 Tf 50 700 Td ${"(word) Tj ".repeat(n)}ET`);
  const cases = [
    ["stream.pdf", buildPdf([blankPage(5 * MIB)], { flate: true }), /--pdf-max-stream-mb/],
    ["inflated.pdf", buildPdf([blankPage(3 * MIB), blankPage(3 * MIB), blankPage(3 * MIB)], { flate: true }), /--pdf-max-inflated-mb/],
    ["pages.pdf", buildPdf([textPage("a"), textPage("b"), textPage("c"), textPage("d")]), /--pdf-max-pages/],
    // 3.5 MB of operators: parsing them needs far more than 200 MiB of address space.
    ["memory.pdf", buildPdf([shows(350_000)], { flate: true }), /--pdf-memory-mb/],
    // 150 000 words on each of two pages: over 1 MiB of text.
    ["text.pdf", buildPdf([shows(150_000), shows(150_000)], { flate: true }), /--pdf-max-text-mb/],
  ];
  for (const [name, bytes, reason] of cases) {
    const upload = await uploadFile(server.url, project.id, name, bytes);
    assert.equal(upload.status, 202, `${name}: ${JSON.stringify(upload.body)}`);
    const row = await settled(server.url, project.id, upload.body.id);
    assert.equal(row.status, "failed", name);
    assert.match(row.error, reason, `${name}: ${row.error}`);
  }
  // A PDF within the limits is still indexed, and the server answers.
  const good = await uploadFile(server.url, project.id, "fine.pdf", buildPdf([textPage("Glaciers hold fresh water")]));
  assert.equal((await settled(server.url, project.id, good.body.id)).status, "completed");
  await server.stop();
});

test("documents cut off by kill -9 are ingested again at the next start", async () => {
  const server = await startServer();
  const { project } = await seedProject(server.url);
  const socket = await connect(server.url, "websocket");
  await request(socket, "join_project", { project_id: project.id });
  // Large enough that ingestion is still going when the process is killed; two are ingested at a
  // time, so the others are surely still queued.
  const big = Array.from({ length: 1500 }, (_, i) => `Line ${i} tells of rivers, lakes and the sea.`).join("\n");
  const ids = [];
  for (let i = 0; i < 3; i++) {
    const res = await api(server.url, "POST", `/api/projects/${project.id}/documents`, { filename: `big${i}.txt`, content: big });
    assert.equal(res.status, 202, JSON.stringify(res.body));
    ids.push(res.body.id);
  }
  await nextEvent(socket, "document_status", (d) => ids.includes(d.document_id) && d.status === "processing", 20000);
  server.proc.kill("SIGKILL");
  await server.exited;
  socket.disconnect();

  const restarted = await startServer({}, { dbPath: server.dbPath });
  for (const id of ids) {
    const row = await settled(restarted.url, project.id, id, 120000);
    assert.equal(row.status, "completed", `document ${id}: ${row.error}`);
    assert.equal(row.progress, 100);
  }
  assert.match(restarted.log(), /ingested again|starting it again/);
  // Indexed once: the retried attempt replaced what the cut-off one had stored.
  const chat = (await api(restarted.url, "POST", `/api/projects/${project.id}/chats`, {})).body;
  const answer = (await api(restarted.url, "POST", `/api/chats/${chat.id}/messages`, { message: "Line 7 rivers", top_k: 20 })).body;
  const line7 = answer.sources.filter((s) => s.content.includes("Line 7 tells"));
  assert.equal(line7.length, new Set(line7.map((s) => s.metadata.document_id)).size, "no chunk stored twice");
  await restarted.stop();
});

test("NUL characters are invalid_payload naming the field, never an internal error", async () => {
  const server = await startServer();
  const { project, chat } = await seedProject(server.url);
  const nul = "a\u0000b";
  const http = [
    ["POST", "/api/projects", { name: nul }, "name"],
    ["POST", `/api/projects/${project.id}/chats`, { title: nul }, "title"],
    ["POST", `/api/chats/${chat.id}/messages`, { message: nul }, "message"],
    ["POST", `/api/chats/${chat.id}/messages`, { message: "water", client_message_id: nul }, "client_message_id"],
    ["POST", `/api/chats/${chat.id}/messages`, { message: "water", model: nul }, "model"],
    ["POST", `/api/projects/${project.id}/documents`, { filename: "n.txt", content: nul }, "content"],
  ];
  for (const [method, path, body, field] of http) {
    const res = await api(server.url, method, path, body);
    assert.equal(res.status, 400, `${path} ${field}: ${JSON.stringify(res.body)}`);
    assert.equal(res.body.error.code, "invalid_payload");
    assert.ok(res.body.error.message.includes(`\`${field}\``), res.body.error.message);
  }
  const socket = await connect(server.url, "websocket");
  for (const [payload, field] of [
    [{ chat_id: chat.id, message: nul }, "message"],
    [{ chat_id: chat.id, message: "water", client_message_id: nul }, "client_message_id"],
    [{ chat_id: chat.id, message: "water", model: nul }, "model"],
  ]) {
    const ack = await request(socket, "send_message", payload);
    assert.equal(ack.ok, false);
    assert.equal(ack.error.code, "invalid_payload");
    assert.ok(ack.error.message.includes(`\`${field}\``), ack.error.message);
  }
  assert.equal(socket.connected, true);
  // Nothing half-stored: the chat holds no message.
  assert.deepEqual((await api(server.url, "GET", `/api/chats/${chat.id}/messages`)).body, []);
  socket.disconnect();
  await server.stop();
});

test("/ready answers 503 from the start of a SIGTERM drain while the stream completes", async () => {
  const server = await startServer({ RAGCAST_BUILTIN_TOKEN_DELAY_MS: "5", RAGCAST_SHUTDOWN_GRACE_SECS: "20" });
  const { chat } = await seedProject(server.url, [{ filename: "long.txt", content: LONG_DOC }]);
  assert.equal((await api(server.url, "GET", "/ready")).status, 200);
  const socket = await connect(server.url, "websocket");
  const ack = await request(socket, "send_message", { chat_id: chat.id, message: "water facts", top_k: 10 });
  await nextEvent(socket, "message_token", (d) => d.message_id === ack.message_id);
  const killed = Date.now();
  server.proc.kill("SIGTERM");
  let ready;
  await waitFor(async () => (ready = await api(server.url, "GET", "/ready")).status === 503, 2000, 10);
  assert.ok(Date.now() - killed < 500, `503 after ${Date.now() - killed} ms`);
  assert.equal(ready.body.status, "draining");
  const complete = await nextEvent(socket, "message_complete", (d) => d.message_id === ack.message_id, 20000);
  assert.equal(complete.metadata.finish_reason, "stop");
  await server.stop();
});
