// The Socket.IO Admin UI's namespace (issue 18), spoken to the way @socket.io/admin-ui 0.5 does
// (socket.io-client on /admin with `auth: { username, password }`): its greeting, live socket and
// room events, server_stats with the live generations, its actions, and who may open it. The
// UI's own page is driven in Chromium in tests/js/browser/admin-ui.test.js.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { io } from "socket.io-client";
import { ADMIN_HASH, ADMIN_HASH_COST_12, ADMIN_PASSWORD } from "./admin.js";
import { rawPollingClient } from "./slow.js";
import { startServer, seedProject, connect, request, api, waitFor, sleep, LONG_DOC } from "./helpers.js";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** An admin socket that records every event with all its arguments. */
async function admin(url, auth, options = {}) {
  const socket = io(`${url}/admin`, { transports: ["websocket"], forceNew: true, reconnection: false, auth, ...options });
  socket.seen = [];
  socket.onAny((event, ...args) => socket.seen.push({ event, args }));
  await new Promise((resolve, reject) => {
    socket.once("connect", resolve);
    socket.once("connect_error", reject);
  });
  return socket;
}

/** The first truthy value `find` returns, waiting for it. */
async function until(find, timeoutMs = 5000) {
  let found;
  await waitFor(() => (found = find()), timeoutMs);
  return found;
}

const seen = (socket, event, predicate = () => true) => socket.seen.filter((e) => e.event === event && predicate(...e.args));

test("an admin gets config, all_sockets and server_stats, then every socket and room change", async () => {
  const server = await startServer({ RAGCAST_ADMIN: "true", RAGCAST_ADMIN_PASSWORD_HASH: ADMIN_HASH, RAGCAST_NODE_NAME: "node-a" });
  try {
    const { project } = await seedProject(server.url);
    const early = await connect(server.url, "websocket", { query: { token: "not-a-secret-but-redacted" } });
    await request(early, "join_project", { project_id: project.id });

    await assert.rejects(admin(server.url, { username: "admin", password: "wrong" }), /invalid credentials/);
    await assert.rejects(admin(server.url, { username: "root", password: ADMIN_PASSWORD }), /invalid credentials/);
    const ui = await admin(server.url, { username: "admin", password: ADMIN_PASSWORD });
    await waitFor(() => seen(ui, "server_stats").length > 0);
    const [config] = seen(ui, "config")[0].args;
    assert.ok(config.supportedFeatures.includes("ALL_EVENTS") && config.supportedFeatures.includes("AGGREGATED_EVENTS"));
    const [sockets] = seen(ui, "all_sockets")[0].args;
    const mine = sockets.find((s) => s.id === early.id);
    assert.equal(mine.nsp, "/");
    assert.equal(mine.transport, "websocket");
    assert.ok(mine.rooms.includes(`project_${project.id}`) && mine.rooms.includes(early.id), mine.rooms.join());
    assert.equal(mine.data.project_id, project.id);
    assert.equal(mine.handshake.query.token, "[redacted]");
    assert.ok(!mine.handshake.url.includes("not-a-secret"));
    assert.equal(typeof mine.handshake.issued, "number");
    assert.equal(mine.handshake.address, "127.0.0.1");
    assert.ok(sockets.some((s) => s.nsp === "/admin" && s.id === ui.id), "the admin socket itself is listed");

    // Live: a new socket, its room, its leaving.
    const late = await connect(server.url, "polling");
    await waitFor(() => seen(ui, "socket_connected", (s) => s.id === late.id).length === 1, 5000);
    await request(late, "join_project", { project_id: project.id });
    await waitFor(() => seen(ui, "room_joined", (nsp, room, id) => id === late.id && room === `project_${project.id}`).length === 1, 5000);
    const [connected, at] = seen(ui, "socket_connected", (s) => s.id === late.id)[0].args;
    assert.equal(connected.transport, "polling");
    assert.match(at, /^\d{4}-\d\d-\d\dT/);
    const lateId = late.id;
    late.disconnect();
    await waitFor(() => seen(ui, "socket_disconnected", (nsp, id) => id === lateId).length === 1, 5000);
    assert.ok(seen(ui, "room_left", (nsp, room, id) => id === lateId && room === `project_${project.id}`).length === 1);

    const [stats] = seen(ui, "server_stats").at(-1).args;
    assert.equal(stats.serverId, "node-a");
    assert.equal(stats.pid, server.proc.pid);
    assert.ok(stats.uptime > 0);
    assert.deepEqual(stats.namespaces.map((n) => n.name), ["/", "/admin"]);
    assert.equal(stats.generations.active_streams, 0);
    early.disconnect();
    ui.disconnect();
  } finally {
    await server.stop();
  }
});

test("server_stats and /metrics carry the live generations; aggregatedEvents count the traffic", async () => {
  const server = await startServer({ RAGCAST_ADMIN: "true", RAGCAST_BUILTIN_TOKEN_DELAY_MS: "20" });
  try {
    const { project, chat } = await seedProject(server.url, [{ filename: "long.txt", content: LONG_DOC }]);
    const ui = await admin(server.url, {});
    const watcher = await connect(server.url, "websocket");
    await request(watcher, "join_project", { project_id: project.id });
    const started = await api(server.url, "POST", `/api/chats/${chat.id}/messages?wait=false`, { message: "water facts", top_k: 10 });
    const live = (stats) => stats.generations.streams.find((s) => s.message_id === started.body.message_id && s.tokens > 5);
    await waitFor(() => seen(ui, "server_stats", (stats) => live(stats)).length > 0, 10000);
    const [stats] = seen(ui, "server_stats", (s) => live(s)).at(-1).args;
    const stream = live(stats);
    assert.equal(stats.generations.active_streams, 1);
    assert.equal(stream.chat_id, chat.id);
    assert.ok(stream.tokens_per_second > 5, `${stream.tokens_per_second} tokens/s`);
    assert.equal(stream.slowest_receiver_lag, 0, "every receiver keeps up");
    const metrics = (await api(server.url, "GET", "/metrics")).body;
    assert.match(metrics, /ragcast_generation_tokens_per_second\{process="[^"]*"\} [1-9]/);
    assert.match(metrics, /ragcast_slowest_receiver_lag_tokens\{process="[^"]*"\} 0/);
    const kinds = new Set(seen(ui, "server_stats").flatMap((e) => e.args[0].aggregatedEvents.map((a) => a.type)));
    for (const kind of ["rawConnection", "packetsIn", "packetsOut", "bytesIn", "bytesOut"]) assert.ok(kinds.has(kind), `${kind} in ${[...kinds]}`);
    watcher.disconnect();
    ui.disconnect();
  } finally {
    await server.stop();
  }
});

test("a receiver that takes nothing shows as the stream's slowest-receiver lag", async () => {
  // A raw long-polling client that never polls: its 8-packet queue fills, the stream's tokens
  // wait (merged) in its outbox, and the lag counts them.
  const server = await startServer({ RAGCAST_ADMIN: "true", RAGCAST_SOCKET_HIGH_WATER: "8", RAGCAST_BUILTIN_TOKEN_DELAY_MS: "20" });
  try {
    const { project, chat } = await seedProject(server.url, [{ filename: "long.txt", content: LONG_DOC }]);
    const stuck = await rawPollingClient(server.url);
    await stuck.post(`42["join_project",{"project_id":${project.id}}]`);
    const ui = await admin(server.url, {});
    const started = await api(server.url, "POST", `/api/chats/${chat.id}/messages?wait=false`, { message: "water facts", top_k: 10 });
    const lagging = (stats) => stats.generations.streams.some((s) => s.message_id === started.body.message_id && s.slowest_receiver_lag > 5);
    await waitFor(() => seen(ui, "server_stats", lagging).length > 0, 10000);
    const [stats] = seen(ui, "server_stats", lagging).at(-1).args;
    assert.ok(stats.generations.slowest_receiver_lag > 5);
    const stream = stats.generations.streams[0];
    assert.ok(stream.slowest_receiver_lag <= stream.tokens, "never more than was streamed");
    const metrics = (await api(server.url, "GET", "/metrics")).body;
    const gauge = /ragcast_slowest_receiver_lag_tokens\{process="[^"]*"\} (\d+)/.exec(metrics);
    assert.ok(gauge && Number(gauge[1]) > 0, "the gauge shows it too");
    ui.disconnect();
  } finally {
    await server.stop();
  }
});

test("the UI's join, leave, emit and _disconnect act on the sockets they name", async () => {
  const server = await startServer({ RAGCAST_ADMIN: "true", RAGCAST_API_KEY: "admin-key" });
  try {
    const target = await connect(server.url, "websocket");
    const bystander = await connect(server.url, "websocket");
    // The API key is a password too.
    const ui = await admin(server.url, { username: "anyone", password: "admin-key" });
    // The admin namespace learns of sockets once a second: wait until it names the target.
    const knows = (id) =>
      seen(ui, "all_sockets", (sockets) => sockets.some((s) => s.id === id)).length > 0 ||
      seen(ui, "socket_connected", (s) => s.id === id).length > 0;
    await waitFor(() => knows(target.id) && knows(bystander.id), 5000);
    ui.emit("join", "/", "vip", target.id);
    await waitFor(() => seen(ui, "room_joined", (nsp, room, id) => room === "vip" && id === target.id).length === 1, 5000);
    ui.emit("emit", "/", "vip", "announcement", { text: "hello" });
    await waitFor(() => target.events.some((e) => e.event === "announcement" && e.data.text === "hello"));
    assert.ok(!bystander.events.some((e) => e.event === "announcement"));
    ui.emit("leave", "/", "vip"); // no filter: every socket of the namespace leaves it
    await waitFor(() => seen(ui, "room_left", (nsp, room, id) => room === "vip" && id === target.id).length === 1, 5000);
    const gone = new Promise((resolve) => target.once("disconnect", resolve));
    ui.emit("_disconnect", "/", false, target.id);
    assert.equal(await gone, "io server disconnect");
    assert.ok(bystander.connected);
    bystander.disconnect();
    ui.disconnect();
  } finally {
    await server.stop();
  }
});

test("/admin is off by default, and --admin in jwt mode needs credentials", async () => {
  const server = await startServer();
  try {
    await assert.rejects(admin(server.url, {}), /Invalid namespace/);
  } finally {
    await server.stop();
  }
  const bin = process.env.RAGCAST_BIN ?? new URL("../../../target/debug/ragcast", import.meta.url).pathname;
  const database = `sqlite://${join(mkdtempSync(join(tmpdir(), "ragcast-admin-")), "db.sqlite")}?mode=rwc`;
  const refused = spawnSync(bin, [], {
    env: { ...process.env, RAGCAST_ADMIN: "true", RAGCAST_AUTH: "jwt", RAGCAST_JWT_SECRET: "s", RAGCAST_BIND: "127.0.0.1:0", DATABASE_URL: database },
    encoding: "utf8",
    timeout: 20000,
  });
  assert.equal(refused.status, 2);
  assert.match(refused.stderr, /--admin-password-hash \(RAGCAST_ADMIN_PASSWORD_HASH\)/);
  const badHash = spawnSync(bin, [], {
    env: { ...process.env, RAGCAST_ADMIN: "true", RAGCAST_ADMIN_PASSWORD_HASH: "plain-text", RAGCAST_BIND: "127.0.0.1:0", DATABASE_URL: database },
    encoding: "utf8",
    timeout: 20000,
  });
  assert.equal(badHash.status, 2);
  assert.match(badHash.stderr, /not a bcrypt hash/);
});

test("50 wrong admin logins at once cost the other sockets nothing; the right password still works from another address", async () => {
  const server = await startServer({
    RAGCAST_ADMIN: "true",
    RAGCAST_ADMIN_PASSWORD_HASH: ADMIN_HASH_COST_12,
    // The side socket pings back to back.
    RAGCAST_RATE_EVENTS_PER_SEC: "100000",
    RAGCAST_RATE_EVENTS_BURST: "100000",
  });
  try {
    const side = await connect(server.url, "websocket");
    // The 50 tries come from another process, so this one's event loop only times the pings.
    const script = `
      import { io } from "socket.io-client";
      const tries = Array.from({ length: 50 }, () => new Promise((resolve) => {
        const s = io(process.argv[1] + "/admin", { transports: ["websocket"], forceNew: true, reconnection: false, auth: { username: "admin", password: "wrong" } });
        s.once("connect", () => { s.disconnect(); resolve("accepted"); });
        s.once("connect_error", (e) => { s.close(); resolve(e.message); });
      }));
      console.log(JSON.stringify(await Promise.all(tries)));`;
    const child = spawn(process.execPath, ["--input-type=module", "-e", script, server.url], { cwd: new URL("..", import.meta.url).pathname, stdio: ["ignore", "pipe", "inherit"] });
    let output = "";
    child.stdout.on("data", (d) => (output += d));
    let settled = false;
    const all = new Promise((resolve) => child.on("exit", () => resolve(JSON.parse(output)))).finally(() => (settled = true));
    const pings = [];
    while (!settled) {
      const sent = performance.now();
      assert.equal((await request(side, "ping", {})).ok, true);
      pings.push(performance.now() - sent);
      await sleep(5);
    }
    const outcomes = await all;
    assert.ok(outcomes.every((o) => o === "invalid credentials"), outcomes.join(", "));
    const slowest = Math.max(...pings);
    console.log(`# ${pings.length} pings during the wrong logins, slowest ${slowest.toFixed(1)} ms`);
    assert.ok(slowest < 50, `a ping took ${slowest.toFixed(1)} ms`);
    assert.match(server.log(), /Admin UI login refused unchecked/, "refusals without a check are logged");
    const metrics = (await api(server.url, "GET", "/metrics")).body;
    assert.match(metrics, /ragcast_admin_logins_throttled_total\{[^}]*reason="in_flight"[^}]*\} \d+/);
    // From another address (127.0.0.2), the right password gets in at once.
    const ui = await admin(server.url, { username: "admin", password: ADMIN_PASSWORD }, { localAddress: "127.0.0.2" });
    assert.equal(ui.connected, true);
    ui.disconnect();
    side.disconnect();
  } finally {
    await server.stop();
  }
});

test("a password login gets a session the UI reconnects with; a wrong or stale one is refused", async () => {
  const server = await startServer({ RAGCAST_ADMIN: "true", RAGCAST_ADMIN_PASSWORD_HASH: ADMIN_HASH });
  try {
    const first = io(`${server.url}/admin`, { transports: ["websocket"], forceNew: true, reconnection: false, auth: { username: "admin", password: ADMIN_PASSWORD } });
    const sessionId = await new Promise((resolve, reject) => {
      first.once("session", resolve);
      first.once("connect_error", reject);
    });
    assert.match(sessionId, /^[0-9a-f]{32}$/);
    first.disconnect();
    // After a reload: the session alone, no password.
    const again = await admin(server.url, { sessionId });
    assert.equal(again.connected, true);
    again.disconnect();
    await assert.rejects(admin(server.url, { sessionId: "0".repeat(32) }), /invalid credentials/);
  } finally {
    await server.stop();
  }
  // A restart with another password: the old session is gone.
  const changed = await startServer({ RAGCAST_ADMIN: "true", RAGCAST_ADMIN_PASSWORD_HASH: ADMIN_HASH_COST_12 });
  try {
    await assert.rejects(admin(changed.url, { sessionId: "f".repeat(32) }), /invalid credentials/);
  } finally {
    await changed.stop();
  }
});

test("the UI hears each socket's events in and out, its upgrade, and why it left, when it happened", async () => {
  const server = await startServer({ RAGCAST_ADMIN: "true" });
  try {
    const ui = await admin(server.url, {});
    const trace = () => JSON.stringify(ui.seen.map((x) => [x.event, ...x.args.slice(1, 3)])).slice(0, 3000);
    const client = await connect(server.url, "upgrade");
    const connected = await until(() => seen(ui, "socket_connected", (s) => s.id === client.id)[0]).catch((e) => {
      throw new Error(`socket_connected: ${trace()}`);
    });
    assert.ok(Date.parse(connected.args[1]) <= Date.now());
    // Connected over polling and upgraded: socket_connected says polling, then socket_updated
    // says websocket (unless the upgrade beat the connection, and socket_connected says it).
    await waitFor(() => client.io.engine.transport.name === "websocket", 5000);
    if (connected.args[0].transport === "polling") {
      await waitFor(() => seen(ui, "socket_updated", (u) => u.id === client.id && u.transport === "websocket").length > 0, 5000).catch((e) => {
        throw new Error(`socket_updated: ${trace()}`);
      });
    }
    await request(client, "ping", { timestamp: 42 });
    const received = await until(() => seen(ui, "event_received", (nsp, id, args) => id === client.id && args[0] === "ping")[0], 5000).catch((e) => {
      throw new Error(`${e.message}: ${trace()}`);
    });
    assert.deepEqual(received.args[2], ["ping", { timestamp: 42 }]);
    const sent = await until(() => seen(ui, "event_sent", (nsp, id, args) => id === client.id && args[0] === "pong")[0], 5000).catch((e) => {
      throw new Error(`event_sent: ${trace()}`);
    });
    assert.equal(sent.args[2][1].timestamp, 42);
    const before = Date.now();
    const clientId = client.id; // socket.io-client forgets it on disconnect
    client.disconnect();
    const gone = await until(() => seen(ui, "socket_disconnected", (nsp, id) => id === clientId)[0], 5000).catch((e) => {
      throw new Error(`socket_disconnected: ${trace()}`);
    });
    assert.equal(gone.args[2], "client namespace disconnect");
    const at = Date.parse(gone.args[3]);
    assert.ok(at >= before - 50 && at <= Date.now(), `stamped when it happened: ${gone.args[3]}`);
    ui.disconnect();
  } finally {
    await server.stop();
  }
});
