// The Socket.IO emitters back ends already use (PROTOCOL §9.4): the real @socket.io/redis-emitter
// and python-socketio's RedisManager(write_only=True) publish to Redis; each of two nodes
// delivers to its own sockets, so every targeted socket gets each event once.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { homedir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { Emitter } from "@socket.io/redis-emitter";
import { createClient } from "redis";
import { api, connect, request, nextEvent } from "../test/helpers.js";
import { REDIS_URL, skipReason, startCluster } from "./cluster.js";

const PYTHON = join(process.env.RAGCAST_PYENV ?? join(homedir(), ".cache", "ragcast-pyenv"), "bin", "python");

/** A metric's value summed over its series matching `labels`. */
async function metric(url, name, labels = "") {
  const text = await (await fetch(`${url}/metrics`)).text();
  return text
    .split("\n")
    .filter((l) => l.startsWith(name) && l.includes(labels))
    .reduce((sum, l) => sum + Number(l.split(" ").pop()), 0);
}

/** Every event a socket got so far named `event`. */
const got = (socket, event) => socket.events.filter((e) => e.event === event).map((e) => e.data);

let cluster, redis, emitter, project, sockets;
before(async () => {
  if (skipReason) return;
  cluster = await startCluster(2);
  redis = createClient({ url: REDIS_URL.replace(/\?.*$/, "") });
  await redis.connect();
  emitter = new Emitter(redis);
  const [a, b] = cluster.nodes;
  project = (await api(a.url, "POST", "/api/projects", { name: "emitted" })).body;
  // Two sockets in the project room (one per node), one outside it on each node.
  sockets = {
    inA: await connect(a.url, "websocket"),
    inB: await connect(b.url, "polling"),
    outA: await connect(a.url, "websocket"),
    outB: await connect(b.url, "websocket"),
  };
  for (const s of [sockets.inA, sockets.inB]) await request(s, "join_project", { project_id: project.id });
});
after(async () => {
  for (const s of Object.values(sockets ?? {})) s.disconnect();
  await redis?.quit();
  await cluster?.stop();
});

test("the redis-emitter reaches a room, everyone, and a room except another, each socket once", { skip: skipReason ?? false }, async () => {
  const room = `project_${project.id}`;
  emitter.to(room).emit("build_done", { n: 1 });
  for (const s of [sockets.inA, sockets.inB]) await nextEvent(s, "build_done", (d) => d.n === 1);
  emitter.emit("broadcast_all", { n: 2 });
  for (const s of Object.values(sockets)) await nextEvent(s, "broadcast_all", (d) => d.n === 2);
  // socketsJoin: the sockets of the project room also join `vip`; then `vip` except the room of
  // inA's user room (none here: anonymous) — use the project room as the exception instead.
  emitter.in(room).socketsJoin("vip");
  emitter.to("vip").emit("vip_news", { n: 3 });
  for (const s of [sockets.inA, sockets.inB]) await nextEvent(s, "vip_news", (d) => d.n === 3);
  emitter.to("vip").except(room).emit("nobody", { n: 4 });
  // A later event to everyone proves the excepted one would have arrived before it.
  emitter.emit("marker", { n: 5 });
  for (const s of Object.values(sockets)) await nextEvent(s, "marker", (d) => d.n === 5);
  for (const s of Object.values(sockets)) {
    assert.equal(got(s, "nobody").length, 0);
    assert.equal(got(s, "broadcast_all").length, 1, "once per socket");
    assert.equal(got(s, "marker").length, 1, "once per socket");
  }
  for (const s of [sockets.outA, sockets.outB]) assert.equal(got(s, "build_done").length, 0);
  assert.equal(got(sockets.inA, "build_done").length, 1);
  assert.equal(got(sockets.inB, "build_done").length, 1);
});

test("contract event names are dropped and counted; garbage changes nothing and is counted", { skip: skipReason ?? false }, async () => {
  const [a] = cluster.nodes;
  const before = await metric(a.url, "ragcast_emitter_messages_total", 'outcome="reserved"');
  const garbageBefore = await metric(a.url, "ragcast_emitter_messages_total", 'outcome="unreadable"');
  // The real emitter refuses Socket.IO's reserved names itself; ragcast's contract names pass it.
  emitter.to(`project_${project.id}`).emit("message_token", { token: "forged", index: 0 });
  await redis.publish("socket.io#/#", Buffer.from("this is not msgpack"));
  emitter.emit("marker2", {});
  await nextEvent(sockets.inA, "marker2");
  assert.equal(got(sockets.inA, "message_token").length, 0, "a forged contract event was delivered");
  assert.ok((await metric(a.url, "ragcast_emitter_messages_total", 'outcome="reserved"')) > before);
  assert.ok((await metric(a.url, "ragcast_emitter_messages_total", 'outcome="unreadable"')) > garbageBefore);
});

test("python-socketio's write-only RedisManager emits to a room and to everyone, skips what it is told, and cannot forge contract events", { skip: skipReason ?? false }, async () => {
  const script = `
import sys, socketio
mgr = socketio.RedisManager(sys.argv[1], write_only=True)
mgr.emit("py_news", {"from": "python"}, room=sys.argv[2])
mgr.emit("py_all", {"n": 1})
mgr.emit("py_skip", {"n": 2}, room=sys.argv[2], skip_sid=sys.argv[2])
mgr.emit("message_complete", {"forged": True}, room=sys.argv[2])
mgr.emit("py_marker", {"n": 3})
`;
  await promisify(execFile)(PYTHON, ["-c", script, REDIS_URL.replace(/\?.*$/, ""), `project_${project.id}`], { timeout: 30000 });
  for (const s of Object.values(sockets)) await nextEvent(s, "py_marker", (d) => d.n === 3);
  for (const s of [sockets.inA, sockets.inB]) assert.deepEqual(got(s, "py_news"), [{ from: "python" }]);
  for (const s of [sockets.outA, sockets.outB]) assert.equal(got(s, "py_news").length, 0);
  for (const s of Object.values(sockets)) {
    assert.equal(got(s, "py_all").length, 1);
    assert.equal(got(s, "py_skip").length, 0);
    assert.equal(got(s, "message_complete").length, 0);
  }
});
