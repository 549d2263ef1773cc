// A socket.io-client receiver in its own process, so a test (test/slow-client.test.js) can SIGSTOP it: joins a project,
// prints `ready`, records one stream's `message_token` events and prints them as one JSON line
// when `message_complete` arrives. Usage: node receiver.mjs <url> <project id> <transport>
import { io } from "socket.io-client";

const [url, projectId, transport] = process.argv.slice(2);
const socket = io(url, { transports: [transport], forceNew: true, reconnection: false });
const tokens = [];
let disconnects = 0;
socket.on("disconnect", () => disconnects++);
socket.on("message_token", (data) => tokens.push(data));
socket.on("message_complete", (complete) => {
  process.stdout.write(`${JSON.stringify({ tokens, complete, disconnects, connected: socket.connected })}\n`);
  socket.disconnect();
});
socket.once("connection_status", async () => {
  const ack = await socket.timeout(10000).emitWithAck("join_project", { project_id: Number(projectId) });
  if (!ack.ok) throw new Error(`join failed: ${JSON.stringify(ack)}`);
  process.stdout.write("ready\n");
});
