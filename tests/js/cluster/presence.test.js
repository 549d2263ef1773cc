// Presence across processes (PROTOCOL §9.2): a member on another node is listed, and the members
// of a node killed without a word leave within --node-lease-secs.
import { test } from "node:test";
import assert from "node:assert/strict";
import { api, connect, nextEvent, request, waitFor } from "../test/helpers.js";
import { skipReason, startCluster } from "./cluster.js";

test("a member on another node is listed; a killed node's members leave within the lease", { skip: skipReason ?? false }, async () => {
  const cluster = await startCluster(2);
  try {
    const [a, b] = cluster.nodes;
    const project = (await api(a.url, "POST", "/api/projects", { name: "p" })).body;
    const onA = await connect(a.url, "websocket");
    const onB = await connect(b.url, "polling");
    const [idA, idB] = [onA, onB].map((s) => s.events[0].data.public_id);
    await request(onA, "join_project", { project_id: project.id });
    await nextEvent(onA, "presence");
    // B learns A's member from A's update (or its periodic list) before its own socket joins.
    await waitFor(async () => (await api(b.url, "GET", `/api/projects/${project.id}/presence`)).body.members.length === 1, 5000);
    await request(onB, "join_project", { project_id: project.id });
    const listed = await nextEvent(onB, "presence");
    assert.deepEqual(listed.members.map((m) => m.public_id).sort(), [idA, idB].sort());
    await nextEvent(onA, "presence_changed", (d) => d.status === "joined" && d.member.public_id === idB);
    await waitFor(async () => (await api(a.url, "GET", `/api/projects/${project.id}/presence`)).body.members.length === 2, 5000);

    const killedAt = Date.now();
    b.proc.kill("SIGKILL");
    await nextEvent(onA, "presence_changed", (d) => d.status === "left" && d.member.public_id === idB, 10000);
    const took = Date.now() - killedAt;
    console.log(`# the killed node's member left ${took} ms after the kill (lease 2 s)`);
    assert.ok(took < 2000, `left after ${took} ms, past the lease`);
    const after = (await api(a.url, "GET", `/api/projects/${project.id}/presence`)).body;
    assert.deepEqual(after.members.map((m) => m.public_id), [idA]);
    onA.disconnect();
  } finally {
    await cluster.stop();
  }
});
