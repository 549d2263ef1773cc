// Soak: N connect → join → disconnect cycles against a fresh server, printing the server's RSS
// before, during and after, to show memory returning to its baseline.
//   node tests/js/soak.mjs [cycles=20000] [concurrency=50]
import { readFileSync } from "node:fs";
import { io } from "socket.io-client";
import { startServer, seedProject } from "./test/helpers.js";

const cycles = Number(process.argv[2] ?? 20000);
const concurrency = Number(process.argv[3] ?? 50);

const rssKb = (pid) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))[1]);

function cycle(url, projectId) {
  return new Promise((resolve, reject) => {
    const socket = io(url, { transports: ["websocket"], forceNew: true, reconnection: false });
    socket.once("connect_error", reject);
    socket.once("connection_status", async () => {
      const ack = await socket.timeout(10000).emitWithAck("join_project", { project_id: projectId });
      if (!ack.ok) reject(new Error(JSON.stringify(ack)));
      socket.disconnect();
      resolve();
    });
  });
}

const server = await startServer({ RUST_LOG: "warn,ragcast::app=info", RAGCAST_MAX_CONNECTIONS_PER_IP: "100000" });
try {
  const { project } = await seedProject(server.url, []);
  const pid = server.proc.pid;
  // Warm up allocator pools and lazy statics before the baseline.
  for (let i = 0; i < 500; i += concurrency) await Promise.all(Array.from({ length: concurrency }, () => cycle(server.url, project.id)));
  await new Promise((r) => setTimeout(r, 1000));
  const baseline = rssKb(pid);
  console.log(`baseline after warm-up: ${baseline} KiB`);
  const started = Date.now();
  let peak = baseline;
  for (let done = 0; done < cycles; done += concurrency) {
    await Promise.all(Array.from({ length: Math.min(concurrency, cycles - done) }, () => cycle(server.url, project.id)));
    peak = Math.max(peak, rssKb(pid));
    if ((done + concurrency) % 5000 < concurrency) console.log(`${done + concurrency} cycles: ${rssKb(pid)} KiB`);
  }
  const seconds = (Date.now() - started) / 1000;
  await new Promise((r) => setTimeout(r, 2000));
  const after = rssKb(pid);
  console.log(`${cycles} cycles in ${seconds.toFixed(1)} s (${Math.round(cycles / seconds)}/s); peak ${peak} KiB; after ${after} KiB; growth ${after - baseline} KiB (${(((after - baseline) / baseline) * 100).toFixed(1)}%)`);
} finally {
  await server.stop();
}
