// People in the room (PROTOCOL §9.1): every member sees who said what, a person can answer
// without a generated reply, and an operator can take a chat over.
import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import { io } from "socket.io-client";
import { startServer, seedProject, connect, request, nextEvent, api, TRANSPORTS } from "./helpers.js";
import { hs256, now } from "./jwt.js";

const SECRET = "people-test-secret";
const API_KEY = "people-test-api-key";

/** The names of the events a socket saw about chat `chatId`, in order. */
const about = (socket, chatId) => socket.events.filter((e) => e.data?.chat_id === chatId).map((e) => e.event);

for (const transport of TRANSPORTS) {
  describe(`who said what over ${transport}`, () => {
    let server;
    before(async () => {
      server = await startServer();
    });
    after(() => server.stop());

    test("both members get message_created (content, sender, client_message_id) before message_received", async () => {
      const { project, chat } = await seedProject(server.url);
      const asker = await connect(server.url, transport);
      const other = await connect(server.url, transport);
      for (const s of [asker, other]) await request(s, "join_project", { project_id: project.id });
      const ack = await request(asker, "send_message", { chat_id: chat.id, message: "When does water boil?", client_message_id: "q-1" });
      assert.equal(ack.ok, true);
      for (const socket of [asker, other]) {
        await nextEvent(socket, "message_complete", (d) => d.message_id === ack.message_id, 20000);
        const created = await nextEvent(socket, "message_created", (d) => d.chat_id === chat.id);
        assert.equal(created.message.content, "When does water boil?");
        assert.equal(created.message.role, "user");
        assert.equal(created.message.client_message_id, "q-1");
        assert.deepEqual(created.message.sender, { user_id: null, name: null });
        assert.equal(created.message.id, ack.user_message_id);
        const order = about(socket, chat.id);
        assert.ok(order.indexOf("message_created") < order.indexOf("message_received"), order.join(","));
      }
      asker.disconnect();
      other.disconnect();
    });

    test("reply: false stores and announces without generating; with the assistant off nothing generates, on again it does", async () => {
      const { project, chat } = await seedProject(server.url);
      const person = await connect(server.url, transport);
      const other = await connect(server.url, transport);
      for (const s of [person, other]) await request(s, "join_project", { project_id: project.id });
      const note = await request(person, "send_message", { chat_id: chat.id, message: "Just a note.", reply: false });
      assert.equal(note.ok, true);
      assert.equal(note.message_id, null);
      const created = await nextEvent(other, "message_created", (d) => d.message.id === note.user_message_id);
      assert.equal(created.message.content, "Just a note.");

      const off = await api(server.url, "PATCH", `/api/chats/${chat.id}`, { assistant: "off" });
      assert.equal(off.status, 200);
      assert.equal(off.body.assistant, "off");
      const updated = await nextEvent(other, "project_update", (d) => d.type === "chat_updated");
      assert.deepEqual(updated.data, { chat_id: chat.id, assistant: "off", title: chat.title });
      const quiet = await request(person, "send_message", { chat_id: chat.id, message: "Anyone there?" });
      assert.equal(quiet.message_id, null, "no reply while a person has the chat");
      await nextEvent(other, "message_created", (d) => d.message.id === quiet.user_message_id);

      assert.equal((await api(server.url, "PATCH", `/api/chats/${chat.id}`, { assistant: "on" })).status, 200);
      const again = await request(person, "send_message", { chat_id: chat.id, message: "When does water boil?" });
      assert.equal(typeof again.message_id, "number");
      await nextEvent(other, "message_complete", (d) => d.message_id === again.message_id, 20000);
      // Nothing was generated for the note or the question asked while off.
      assert.equal(other.events.filter((e) => e.event === "message_received" && e.data.chat_id === chat.id).length, 1);
      const stored = (await api(server.url, "GET", `/api/chats/${chat.id}/messages`)).body;
      assert.deepEqual(stored.map((m) => m.role), ["user", "user", "user", "assistant"]);
      person.disconnect();
      other.disconnect();
    });
  });
}

describe("a widget, an operator and the AI in one chat (jwt)", () => {
  let server, project, chat;
  const token = (sub, claims = {}) => hs256({ sub, exp: now() + 600, projects: [project.id], ...claims }, SECRET);
  const call = (method, path, body, bearer = API_KEY) =>
    fetch(server.url + path, {
      method,
      headers: { authorization: `Bearer ${bearer}`, "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    }).then(async (r) => ({ status: r.status, body: await r.json().catch(() => null) }));

  before(async () => {
    server = await startServer({ RAGCAST_AUTH: "jwt", RAGCAST_JWT_SECRET: SECRET, RAGCAST_API_KEY: API_KEY });
    project = (await call("POST", "/api/projects", { name: "support" })).body;
    chat = (await call("POST", `/api/projects/${project.id}/chats`, { title: "visitor" })).body;
    const doc = await call("POST", `/api/projects/${project.id}/documents`, { filename: "water.txt", content: "Water boils at 100 degrees Celsius at sea level." });
    for (let i = 0; i < 200; i++) {
      const docs = (await call("GET", `/api/projects/${project.id}/documents`)).body;
      if (docs.find((d) => d.id === doc.body.id)?.status === "completed") break;
      await new Promise((r) => setTimeout(r, 25));
    }
  });
  after(() => server.stop());

  test("widget ↔ admin both ways with names, the AI answer to both, takeover, and the polling fallback", async () => {
    const widget = await connect(server.url, "polling", { auth: { token: token("visitor-7", { name: "Visitor" }) } });
    const admin = await connect(server.url, "websocket", { auth: { token: token("op-1", { name: "Olga (support)", operator: true }) } });
    for (const s of [widget, admin]) assert.equal((await request(s, "join_project", { project_id: project.id })).ok, true);

    const question = await request(widget, "send_message", { chat_id: chat.id, message: "When does water boil?" });
    const seenByAdmin = await nextEvent(admin, "message_created", (d) => d.message.id === question.user_message_id);
    assert.deepEqual(seenByAdmin.message.sender, { user_id: "visitor-7", name: "Visitor" });
    for (const s of [widget, admin]) await nextEvent(s, "message_complete", (d) => d.message_id === question.message_id, 20000);

    // The operator takes over and answers; the widget sees the answer with the operator's name.
    const takeover = await call("PATCH", `/api/chats/${chat.id}`, { assistant: "off" }, token("op-1", { operator: true }));
    assert.equal(takeover.status, 200);
    const reply = await request(admin, "send_message", { chat_id: chat.id, message: "Hi, Olga here: 100 °C at sea level.", reply: false });
    const seenByWidget = await nextEvent(widget, "message_created", (d) => d.message.id === reply.user_message_id);
    assert.deepEqual(seenByWidget.message.sender, { user_id: "op-1", name: "Olga (support)" });
    const followUp = await request(widget, "send_message", { chat_id: chat.id, message: "And on a mountain?" });
    assert.equal(followUp.message_id, null, "no AI answer during the takeover");
    await nextEvent(admin, "message_created", (d) => d.message.id === followUp.user_message_id);
    // A back end posts a notice.
    const notice = await call("POST", `/api/chats/${chat.id}/messages`, { message: "Olga closed the conversation.", role: "system", sender: { user_id: null, name: "Help desk" } });
    assert.equal(notice.status, 201);
    assert.equal(notice.body.role, "system");
    await nextEvent(widget, "message_created", (d) => d.message.id === notice.body.id);

    // The polling fallback has all of them, in order, each once.
    const all = (await call("GET", `/api/chats/${chat.id}/messages`, undefined, token("visitor-7"))).body;
    assert.deepEqual(
      all.map((m) => [m.role, m.content.slice(0, 12)]),
      [["user", "When does wa"], ["assistant", all[1].content.slice(0, 12)], ["user", "Hi, Olga her"], ["user", "And on a mou"], ["system", "Olga closed "]],
    );
    assert.deepEqual(all[2].sender, { user_id: "op-1", name: "Olga (support)" });
    assert.equal(all[1].sender, null, "a reply has no sender");
    const after = (await call("GET", `/api/chats/${chat.id}/messages?after_id=${all[2].id}`, undefined, token("visitor-7"))).body;
    assert.deepEqual(after.map((m) => m.id), [all[3].id, all[4].id]);
    widget.disconnect();
    admin.disconnect();
  });

  test("bad input is refused naming the field, and nothing is stored", async () => {
    const user = await connect(server.url, "websocket", { auth: { token: token("u-1") } });
    await request(user, "join_project", { project_id: project.id });
    const before = (await call("GET", `/api/chats/${chat.id}/messages`)).body.length;
    const notBoolean = await request(user, "send_message", { chat_id: chat.id, message: "x", reply: "no" });
    assert.equal(notBoolean.error.code, "invalid_payload");
    assert.match(notBoolean.error.message, /reply/);
    const role = await request(user, "send_message", { chat_id: chat.id, message: "x", role: "assistant" });
    assert.equal(role.error.code, "invalid_payload");
    assert.match(role.error.message, /role/);
    const userToken = token("u-1");
    const httpRole = await call("POST", `/api/chats/${chat.id}/messages`, { message: "x", role: "system" }, userToken);
    assert.equal(httpRole.status, 403);
    assert.match(httpRole.body.error.message, /role/);
    const httpSender = await call("POST", `/api/chats/${chat.id}/messages`, { message: "x", sender: { name: "Boss" } }, userToken);
    assert.equal(httpSender.status, 403);
    assert.match(httpSender.body.error.message, /sender/);
    const badMode = await call("PATCH", `/api/chats/${chat.id}`, { assistant: "maybe" });
    assert.equal(badMode.status, 400);
    assert.match(badMode.body.error.message, /assistant/);
    const notOperator = await call("PATCH", `/api/chats/${chat.id}`, { assistant: "off" }, userToken);
    assert.equal(notOperator.status, 403);
    assert.match(notOperator.body.error.message, /operator/);
    assert.equal((await call("GET", `/api/chats/${chat.id}/messages`)).body.length, before);
    user.disconnect();
  });
});
