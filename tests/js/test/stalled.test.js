// A client that stops reading is closed at the TCP level within the ping timeout, whatever is
// queued for it, while the others in its room get everything in order (issue 14).
import { test } from "node:test";
import assert from "node:assert/strict";
import { startServer, connect, request, api, waitFor } from "./helpers.js";
import { pausedClient } from "./slow.js";

test("a client that stops reading is closed within the ping timeout; the others get every event", async () => {
  const server = await startServer({ RAGCAST_PING_TIMEOUT_MS: "2000", RAGCAST_RATE_EVENTS_PER_SEC: "100000", RAGCAST_RATE_EVENTS_BURST: "100000" });
  const project = (await api(server.url, "POST", "/api/projects", { name: "flood" })).body;
  const readers = await Promise.all([1, 2, 3].map(() => connect(server.url, "websocket")));
  for (const r of readers) assert.equal((await request(r, "join_project", { project_id: project.id })).ok, true);
  const paused = await pausedClient(server.url, project.id);

  const blob = "x".repeat(100_000);
  const events = 200;
  const flooded = Date.now();
  for (let n = 0; n < events; n++) {
    const res = await api(server.url, "POST", `/api/projects/${project.id}/events`, { event: "flood", data: { n, blob } });
    assert.equal(res.status, 200);
  }
  await waitFor(() => /read nothing for 2000 ms/.test(server.log()), 15000, 50);
  const closedAfter = Date.now() - flooded;
  assert.ok(closedAfter < 15000, `closed ${closedAfter} ms after the flood began`);
  // Once it reads again, it finds its connection closed.
  paused._socket.resume();
  await paused.closed;

  for (const reader of readers) {
    await waitFor(() => reader.events.filter((e) => e.event === "flood").length === events, 20000);
    const ns = reader.events.filter((e) => e.event === "flood").map((e) => e.data.n);
    assert.deepEqual(ns, Array.from({ length: events }, (_, i) => i), "in order, none missing");
    assert.equal(reader.connected, true);
    reader.disconnect();
  }
  await server.stop();
});
