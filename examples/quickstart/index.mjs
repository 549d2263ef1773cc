// ragcast quick start: a project, a document, a question, and the answer streamed live.
//   cd examples/quickstart && npm ci && node index.mjs [http://127.0.0.1:8000] ["your question"]
import { io } from "socket.io-client";

const url = process.argv[2] ?? process.env.RAGCAST_URL ?? "http://127.0.0.1:8000";
const question = process.argv[3] ?? "At what temperature does water boil?";

async function api(method, path, body) {
  const res = await fetch(url + path, {
    method,
    headers: body ? { "content-type": "application/json" } : {},
    body: body ? JSON.stringify(body) : undefined,
  });
  const data = await res.json();
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(data)}`);
  return data;
}

const project = await api("POST", "/api/projects", { name: "Quick start" });
const chat = await api("POST", `/api/projects/${project.id}/chats`, { title: "First chat" });

const socket = io(url);
await new Promise((resolve, reject) => {
  socket.once("connection_status", resolve);
  socket.once("connect_error", reject);
});
const joined = await socket.emitWithAck("join_project", { project_id: project.id });
if (!joined.ok) throw new Error(joined.error.message);

// Upload after joining, so the progress events reach us.
const indexed = new Promise((resolve, reject) => {
  socket.on("document_status", (s) => {
    console.log(`document ${s.filename}: ${s.status} ${s.progress}%`);
    if (s.status === "completed") resolve();
    if (s.status === "failed") reject(new Error(s.error));
  });
});
await api("POST", `/api/projects/${project.id}/documents`, {
  filename: "water.md",
  content:
    "# Water\n\nWater boils at 100 degrees Celsius at sea level. " +
    "On a mountain it boils at a lower temperature, because the air pressure is lower.\n\n" +
    "Ice melts at 0 degrees Celsius.",
});
await indexed;

socket.on("message_sources", ({ sources }) => {
  console.log("\nsources:");
  sources.forEach((s, i) => console.log(`  [${i + 1}] ${s.metadata.filename} (score ${s.score.toFixed(2)}): ${s.content.slice(0, 60)}…`));
  process.stdout.write("\nanswer: ");
});
socket.on("message_token", ({ token }) => process.stdout.write(token));
socket.on("error", (e) => console.error("\nerror:", e));
const done = new Promise((resolve) => socket.on("message_complete", resolve));

console.log(`\nquestion: ${question}`);
const ack = await socket.emitWithAck("send_message", { chat_id: chat.id, message: question });
if (!ack.ok) throw new Error(ack.error.message);
const complete = await done;
const { tokens, first_token_ms, duration_ms, finish_reason } = complete.metadata;
console.log(`\n\n(${tokens} tokens, first after ${first_token_ms} ms, ${duration_ms} ms in all, ${finish_reason})`);
socket.disconnect();
