// Clients that stop reading: N raw websocket clients join one room and pause their sockets, a
// back-end floods the room with E events of S bytes, and the server's RSS is printed before,
// during (at its peak) and after they are gone (past their byte budget, or closed by the stall
// guard after --ping-timeout-ms).
//   node tests/js/stalled-soak.mjs [clients=200] [events=50] [ping-timeout-ms=20000] [rounds=1] [bytes=100000]
// The two cases of BENCHMARKS.md: `50 5000 20000 1 10000` and `4 2000 20000 1 100000`.
// Several rounds on one server tell a leak (RSS after grows each round) from memory the
// allocator keeps for reuse (it stays level). RAGCAST_BIN picks the server binary.
import { readFileSync } from "node:fs";
import WebSocket from "ws";
import { startServer, api, waitFor, sleep } from "./test/helpers.js";

const clients = Number(process.argv[2] ?? 200);
const events = Number(process.argv[3] ?? 50);
const pingTimeout = Number(process.argv[4] ?? 20000);
const rounds = Number(process.argv[5] ?? 1);
const size = Number(process.argv[6] ?? 100_000);
const rssMb = (pid) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))[1]) / 1024;

async function paused(url, projectId) {
  const ws = new WebSocket(`${url.replace("http", "ws")}/socket.io/?EIO=4&transport=websocket`);
  const frames = [];
  ws.on("message", (d) => frames.push(d.toString()));
  ws.on("error", () => {});
  await new Promise((resolve) => ws.once("open", resolve));
  ws.send("40");
  await waitFor(() => frames.some((f) => f.startsWith("40{")));
  ws.send(`42${JSON.stringify(["join_project", { project_id: projectId }])}`);
  await waitFor(() => frames.some((f) => f.includes("project_joined")));
  ws._socket.pause();
  return ws;
}

const server = await startServer({
  RAGCAST_PING_TIMEOUT_MS: String(pingTimeout),
  RAGCAST_MAX_CONNECTIONS_PER_IP: "100000",
  // Without the embedding model's 90 MB, the sockets' share stands out.
  RAGCAST_EMBEDDER: "none",
  RUST_LOG: "warn,ragcast::app=info",
});
try {
  const pid = server.proc.pid;
  const project = (await api(server.url, "POST", "/api/projects", { name: "stall" })).body;
  const before = rssMb(pid);
  for (let round = 1; round <= rounds; round++) {
    const sockets = [];
    for (let i = 0; i < clients; i++) sockets.push(await paused(server.url, project.id));
    const joined = rssMb(pid);
    const blob = "x".repeat(size);
    let peak = joined;
    for (let n = 0; n < events; n++) {
      await api(server.url, "POST", `/api/projects/${project.id}/events`, { event: "flood", data: { n, blob } });
      peak = Math.max(peak, rssMb(pid));
    }
    const started = Date.now();
    let open = clients;
    while (open > 0 && Date.now() - started < pingTimeout * 3 + 10000) {
      await sleep(250);
      peak = Math.max(peak, rssMb(pid));
      const metrics = await (await fetch(`${server.url}/metrics`)).text();
      open = Number(/ragcast_connected_sockets\{[^}]*\} (\d+)/.exec(metrics)?.[1] ?? 0);
    }
    const closedIn = (Date.now() - started) / 1000;
    await sleep(2000);
    const after = rssMb(pid);
    console.log(
        `round ${round}: ` +
      `${clients} paused clients, ${events} events of ${size / 1000} KB: RSS ${before.toFixed(1)} MB before, ${joined.toFixed(1)} MB joined, ` +
        `peak ${peak.toFixed(1)} MB, ${after.toFixed(1)} MB after; ${open} still connected ${closedIn.toFixed(1)} s after the flood`,
    );
    for (const ws of sockets) ws.terminate();
    await sleep(2000);
    const gone = rssMb(pid);
    // Allocators give freed pages back after a delay (jemalloc's decay: 10 s).
    await sleep(10000);
    console.log(`round ${round}: ${gone.toFixed(1)} MB once the clients are gone, ${rssMb(pid).toFixed(1)} MB 10 s later`);
  }
} finally {
  await server.stop();
}
