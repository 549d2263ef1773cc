// Connection, project rooms, typing, tasks and ping (PROTOCOL §2–§4).
import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import { io } from "socket.io-client";
import { TRANSPORTS, startServer, seedProject, connect, request, nextEvent, settled } from "./helpers.js";

for (const transport of [...TRANSPORTS, "upgrade"]) {
  describe(`connection and rooms over ${transport}`, () => {
    let server;
    before(async () => {
      server = await startServer();
    });
    after(async () => {
      await server.stop();
    });

    test("connection_status comes first with sid, server time and no user", async () => {
      const before = Date.now();
      const socket = await connect(server.url, transport);
      const [first] = socket.events;
      assert.equal(first.event, "connection_status");
      assert.equal(first.data.status, "connected");
      assert.equal(first.data.sid, socket.id);
      assert.match(first.data.public_id, /^[0-9a-f]{16}$/);
      assert.notEqual(first.data.public_id, socket.id);
      assert.equal(first.data.user_id, null);
      assert.ok(first.data.server_time >= before - 1000 && first.data.server_time <= Date.now() + 1000);
      socket.disconnect();
    });

    test("an unknown namespace is refused with connect_error", async () => {
      const socket = io(`${server.url}/tenant-x`, { transports: transport === "upgrade" ? undefined : [transport], forceNew: true, reconnection: false });
      const err = await new Promise((resolve) => socket.once("connect_error", resolve));
      assert.equal(err.message, "Invalid namespace");
      socket.close();
    });

    test("join, switch and leave follow the one-room rule", async () => {
      const a = await seedProject(server.url, []);
      const b = await seedProject(server.url, []);
      const socket = await connect(server.url, transport);
      assert.deepEqual(await request(socket, "join_project", { project_id: a.project.id }), { ok: true, project_id: a.project.id });
      // Ids as digit strings are accepted.
      assert.equal((await request(socket, "join_project", { project_id: String(a.project.id) })).ok, true);
      await request(socket, "join_project", { project_id: b.project.id });
      const roomEvents = socket.events.filter((e) => e.event === "project_joined" || e.event === "project_left");
      assert.deepEqual(roomEvents.map((e) => [e.event, e.data.project_id]), [
        ["project_joined", a.project.id],
        ["project_joined", a.project.id],
        ["project_left", a.project.id],
        ["project_joined", b.project.id],
      ]);
      // Only project b's room reaches it now.
      const listener = await connect(server.url, transport);
      const chatA = await fetch(`${server.url}/api/projects/${a.project.id}/chats`, { method: "POST" }).then((r) => r.json());
      const chatB = await fetch(`${server.url}/api/projects/${b.project.id}/chats`, { method: "POST" }).then((r) => r.json());
      const update = await nextEvent(socket, "project_update", (d) => d.type === "chat_created");
      assert.equal(update.project_id, b.project.id);
      assert.equal(update.data.id, chatB.id);
      // Project a's update was queued before b's, so it would have come first.
      assert.ok(!socket.events.some((e) => e.event === "project_update" && e.data.project_id === a.project.id));
      assert.ok(chatA.id);

      assert.deepEqual(await request(socket, "leave_project", { project_id: b.project.id }), { ok: true, project_id: b.project.id });
      // Idempotent: leaving again still answers.
      assert.equal((await request(socket, "leave_project", { project_id: b.project.id })).ok, true);
      assert.equal(socket.events.filter((e) => e.event === "project_left" && e.data.project_id === b.project.id).length, 2);
      await fetch(`${server.url}/api/projects/${b.project.id}/chats`, { method: "POST" });
      await settled(socket);
      assert.equal(socket.events.filter((e) => e.event === "project_update").length, 1, "no room, no updates");
      socket.disconnect();
      listener.disconnect();
    });

    test("typing goes to the room except the sender", async () => {
      const { project, chat } = await seedProject(server.url, []);
      const typist = await connect(server.url, transport);
      const peer = await connect(server.url, transport);
      const stranger = await connect(server.url, transport);
      await request(typist, "join_project", { project_id: project.id });
      await request(peer, "join_project", { project_id: project.id });
      assert.deepEqual(await request(typist, "typing_start", { chat_id: chat.id }), { ok: true, chat_id: chat.id });
      const on = await nextEvent(peer, "typing", (d) => d.typing === true);
      // `sid` is the typist's public id (PROTOCOL §2), never its session id.
      const publicId = (await nextEvent(typist, "connection_status")).public_id;
      assert.notEqual(publicId, typist.id);
      assert.deepEqual(on, { chat_id: chat.id, user_id: null, sid: publicId, typing: true });
      await request(typist, "typing_stop", { chat_id: chat.id });
      const off = await nextEvent(peer, "typing", (d) => d.typing === false);
      assert.equal(off.sid, publicId);
      await Promise.all([settled(typist), settled(stranger)]);
      assert.ok(!typist.events.some((e) => e.event === "typing"));
      assert.ok(!stranger.events.some((e) => e.event === "typing"));
      for (const s of [typist, peer, stranger]) s.disconnect();
    });

    test("ping answers pong with the timestamp echoed, or the server time", async () => {
      const socket = await connect(server.url, transport);
      const sent = Date.now();
      socket.emit("ping", { timestamp: sent });
      const pong = await nextEvent(socket, "pong");
      assert.equal(pong.timestamp, sent);
      assert.equal(typeof pong.server_time, "number");
      socket.events = [];
      // No payload at all (`42["ping"]`), with an ack.
      const ack = await socket.timeout(10000).emitWithAck("ping");
      assert.equal(ack.ok, true);
      const bare = await nextEvent(socket, "pong");
      assert.equal(bare.timestamp, bare.server_time);
      socket.events = [];
      socket.emit("ping");
      const noAck = await nextEvent(socket, "pong");
      assert.equal(noAck.timestamp, noAck.server_time);
      // `null` is a payload that is not an object (PROTOCOL §4).
      const refused = await request(socket, "ping", null);
      assert.equal(refused.error.code, "invalid_payload");
      socket.disconnect();
    });

    test("task_subscribe and task_unsubscribe only ack", async () => {
      const socket = await connect(server.url, transport);
      assert.deepEqual(await request(socket, "task_subscribe", { task_id: "t1" }), { ok: true, task_id: "t1" });
      assert.deepEqual(await request(socket, "task_unsubscribe", { task_id: "t1" }), { ok: true, task_id: "t1" });
      assert.deepEqual(socket.events.map((e) => e.event), ["connection_status"]);
      socket.disconnect();
    });
  });
}
