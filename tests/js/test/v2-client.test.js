// socket.io-client 2.x (Socket.IO protocol v4, Engine.IO 3) beside 4.x on the same port
// (issue 18). The stream, resume and error tests run with 2.5.0 too (scripts/test runs them with
// RAGCAST_JS_CLIENT=2); this file checks what is particular to 2.x: both protocols in one room,
// and the token in the query string, since 2.x sends no `auth`.
import { test } from "node:test";
import assert from "node:assert/strict";
import { startServer, seedProject, connect, request, nextEvent, TRANSPORTS } from "./helpers.js";
import { hs256, now } from "./jwt.js";

for (const transport of TRANSPORTS) {
  test(`${transport}: a 2.x and a 4.x client in one project room get the same stream`, async () => {
    const server = await startServer();
    try {
      const { project, chat } = await seedProject(server.url);
      const old = await connect(server.url, transport, { client: "2.x" });
      const current = await connect(server.url, transport, { client: "4.x" });
      for (const socket of [old, current]) assert.equal((await request(socket, "join_project", { project_id: project.id })).ok, true);
      const sent = await request(old, "send_message", { chat_id: chat.id, message: "When does water boil?" });
      assert.equal(sent.ok, true);
      const done = await Promise.all([old, current].map((s) => nextEvent(s, "message_complete", (d) => d.message_id === sent.message_id)));
      assert.equal(done[0].content, done[1].content);
      const tokens = (s) => s.events.filter((e) => e.event === "message_token").map((e) => e.data.token).join("");
      assert.equal(tokens(old), done[0].content);
      assert.equal(tokens(current), done[1].content);
      // The server saw one socket of each protocol.
      const log = server.log().replace(/\x1b\[[0-9;]*m/g, "");
      assert.match(log, /socket connected.*protocol=V4/);
      assert.match(log, /socket connected.*protocol=V5/);
      old.disconnect();
      current.disconnect();
    } finally {
      await server.stop();
    }
  });
}

test("in jwt mode a 2.x client passes its token as ?token=, and is refused without one", async () => {
  const secret = "v2-client-secret";
  const server = await startServer({ RAGCAST_AUTH: "jwt", RAGCAST_JWT_SECRET: secret });
  try {
    await assert.rejects(connect(server.url, "websocket", { client: "2.x" }), /unauthorized/);
    const token = hs256({ sub: "old-client", exp: now() + 600, projects: "*" }, secret);
    for (const transport of TRANSPORTS) {
      // No `auth` in 2.x: `connect` sends the token as `?token=`.
      const socket = await connect(server.url, transport, { client: "2.x", auth: { token } });
      assert.equal((await request(socket, "task_subscribe", { task_id: "t" })).ok, true);
      socket.disconnect();
    }
  } finally {
    await server.stop();
  }
});
