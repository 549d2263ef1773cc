// Test helpers: a real ragcast process per test file, real socket.io-client sockets, real HTTP.
import { execFileSync, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { io } from "socket.io-client";
import ioV2 from "socket.io-client-v2";

/**
 * Which socket.io-client `connect` uses: 4.x, or with `RAGCAST_JS_CLIENT=2` 2.5.0 (Socket.IO
 * protocol v4, Engine.IO 3), given the same shape (see `connectV2`).
 */
export const CLIENT = process.env.RAGCAST_JS_CLIENT === "2" ? "2.x" : "4.x";

export const TRANSPORTS = ["websocket", "polling"];

function serverBinary() {
  if (process.env.RAGCAST_BIN) return process.env.RAGCAST_BIN;
  const target = process.env.CARGO_TARGET_DIR ?? new URL("../../../target", import.meta.url).pathname;
  return join(target, "debug", "ragcast");
}

/** Starts ragcast on a free port with a fresh SQLite database. */
export async function startServer(env = {}, { dbPath: reuseDb } = {}) {
  const dir = mkdtempSync(join(tmpdir(), "ragcast-js-"));
  const dbPath = reuseDb ?? join(dir, "test.db");
  const databaseUrl = process.env.RAGCAST_JS_DATABASE_URL ? freshPostgres(process.env.RAGCAST_JS_DATABASE_URL, reuseDb) : `sqlite://${dbPath}?mode=rwc`;
  const proc = spawn(serverBinary(), [], {
    env: {
      ...process.env,
      RAGCAST_BIND: "127.0.0.1:0",
      DATABASE_URL: databaseUrl,
      RUST_LOG: process.env.TEST_LOG ? "info" : "warn,ragcast=info",
      ...env,
    },
    stdio: ["ignore", "ignore", "pipe"],
  });
  let log = "";
  const url = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start:\n${log}`)), 30000);
    proc.stderr.on("data", (chunk) => {
      log += chunk;
      if (process.env.TEST_LOG) process.stderr.write(chunk);
      const match = /listening on (http:\/\/[\d.:]+)/.exec(log);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]);
      }
    });
    proc.on("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`server exited with ${code}:\n${log}`));
    });
  });
  const exited = new Promise((resolve) => proc.on("exit", (code, signal) => resolve({ code, signal })));
  return {
    url,
    dbPath: process.env.RAGCAST_JS_DATABASE_URL ? databaseUrl : dbPath,
    proc,
    log: () => log,
    exited,
    async stop({ keepDb = false } = {}) {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill("SIGTERM");
      await exited;
      if (keepDb) return;
      rmSync(dir, { recursive: true, force: true });
      if (process.env.RAGCAST_JS_DATABASE_URL) dropPostgres(process.env.RAGCAST_JS_DATABASE_URL, databaseUrl);
    },
  };
}

/**
 * With `RAGCAST_JS_DATABASE_URL` (a PostgreSQL URL), each server gets a fresh database next to
 * it, so the whole suite runs on PostgreSQL too. `reuse` is a URL handed out before.
 */
export function freshPostgres(base, reuse) {
  if (reuse) return reuse;
  const name = `ragcast_js_${process.pid}_${Date.now()}_${Math.floor(Math.random() * 1e6)}`;
  execFileSync("psql", [base, "-qc", `CREATE DATABASE ${name}`]);
  const url = new URL(base);
  url.pathname = `/${name}`;
  return url.toString();
}

/** Drops a database `freshPostgres` made next to `base`. */
export function dropPostgres(base, url) {
  const name = new URL(url).pathname.slice(1);
  execFileSync("psql", [base, "-qc", `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`]);
}

/** An HTTP call; returns `{ status, body }` with the body parsed when it is JSON. */
export async function api(url, method, path, body) {
  const init = { method, headers: {} };
  if (body !== undefined) {
    init.headers["content-type"] = "application/json";
    init.body = typeof body === "string" ? body : JSON.stringify(body);
  }
  const res = await fetch(url + path, init);
  const text = await res.text();
  let parsed = text;
  try {
    parsed = JSON.parse(text);
  } catch {}
  return { status: res.status, body: parsed, headers: res.headers };
}

/** A project with a chat and one document, indexed. */
export async function seedProject(url, documents = [{ filename: "water.txt", content: WATER }]) {
  const project = (await api(url, "POST", "/api/projects", { name: "test project" })).body;
  const chat = (await api(url, "POST", `/api/projects/${project.id}/chats`, { title: "chat" })).body;
  for (const doc of documents) {
    const res = await api(url, "POST", `/api/projects/${project.id}/documents`, doc);
    if (res.status !== 202) throw new Error(`upload failed: ${JSON.stringify(res.body)}`);
    await waitFor(async () => {
      const docs = (await api(url, "GET", `/api/projects/${project.id}/documents`)).body;
      const row = docs.find((d) => d.id === res.body.id);
      if (row.status === "failed") throw new Error(row.error);
      return row.status === "completed";
    });
  }
  return { project, chat };
}

export const WATER = [
  "Water boils at 100 degrees Celsius at sea level.",
  "At higher altitudes water boils at a lower temperature because the air pressure is lower.",
  "Ice melts at 0 degrees Celsius.",
  "",
  "Cats are small domesticated carnivores that sleep most of the day.",
].join("\n");

/** 40 sentences about water: a long answer (a few hundred tokens) for streams that stay live. */
export const LONG_DOC = Array.from({ length: 40 }, (_, i) => `Fact ${i}: water covers ${i + 1} percent of something remarkable.`).join(" ");

export async function waitFor(check, timeoutMs = 10000, stepMs = 25) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error("timed out waiting for a condition");
    await sleep(stepMs);
  }
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * A connected socket that records every event it receives, in order.
 * `socket.events` is `[{ event, data }]`. `client: "2.x"` picks socket.io-client 2.5.0 whatever
 * `CLIENT` says.
 */
export async function connect(url, transport, { client = CLIENT, ...options } = {}) {
  if (client === "2.x") return connectV2(url, transport, options);
  const socket = io(url, {
    transports: transport === "upgrade" ? ["polling", "websocket"] : [transport],
    forceNew: true,
    reconnection: false,
    ...options,
  });
  socket.events = [];
  socket.onAny((event, data) => socket.events.push({ event, data }));
  await new Promise((resolve, reject) => {
    socket.once("connection_status", resolve);
    socket.once("connect_error", reject);
  });
  return socket;
}

/**
 * A socket.io-client 2.5.0 socket recording its events like `connect`'s. 2.x sends no `auth`:
 * a token goes in the query. It has no `onAny` (events are recorded through its dispatcher,
 * `onevent`) and no `timeout().emitWithAck` (added here over a plain ack callback).
 */
async function connectV2(url, transport, { auth, query, ...options } = {}) {
  const socket = ioV2(url, {
    transports: transport === "upgrade" ? ["polling", "websocket"] : [transport],
    forceNew: true,
    reconnection: false,
    query: { ...query, ...(auth?.token ? { token: auth.token } : {}) },
    ...options,
  });
  const listeners = new Set();
  const dispatch = socket.onevent;
  socket.onevent = function (packet) {
    const [event, ...args] = packet.data ?? [];
    for (const listener of [...listeners]) listener(event, ...args);
    dispatch.call(this, packet);
  };
  socket.onAny = (listener) => listeners.add(listener);
  socket.offAny = (listener) => listeners.delete(listener);
  socket.timeout = (ms) => ({
    emitWithAck: (event, payload) =>
      new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error("operation has timed out")), ms);
        socket.emit(event, payload, (ack) => {
          clearTimeout(timer);
          resolve(ack);
        });
      }),
  });
  socket.clientVersion = "2.x";
  socket.events = [];
  socket.onAny((event, data) => socket.events.push({ event, data }));
  await new Promise((resolve, reject) => {
    socket.once("connection_status", resolve);
    // 2.x reports a refused connection as `error`, a transport failure as `connect_error`.
    socket.once("error", (e) => reject(new Error(typeof e === "string" ? e : e?.message ?? String(e))));
    socket.once("connect_error", reject);
  });
  return socket;
}

/** Emits with an ack callback and resolves with the ack. */
export function request(socket, event, payload, timeoutMs = 10000) {
  return socket.timeout(timeoutMs).emitWithAck(event, payload);
}

/** Resolves with the first recorded (or future) event matching. */
export function nextEvent(socket, event, predicate = () => true, timeoutMs = 10000) {
  const seen = socket.events.find((e) => e.event === event && predicate(e.data));
  if (seen) return Promise.resolve(seen.data);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      socket.offAny(listener);
      reject(new Error(`no ${event} within ${timeoutMs} ms`));
    }, timeoutMs);
    const listener = (name, data) => {
      if (name === event && predicate(data)) {
        clearTimeout(timer);
        socket.offAny(listener);
        resolve(data);
      }
    };
    socket.onAny(listener);
  });
}

/**
 * Resolves once every event the server queued for `socket` before now has arrived: the answer
 * to an event goes through the socket's outbox after them, so an absence checked after this is
 * proven, not waited for. A `ping` (socket.io-client 2.x reserves that name: a harmless
 * `task_unsubscribe` there).
 */
export async function settled(socket) {
  if (socket.clientVersion === "2.x") {
    await request(socket, "task_unsubscribe", { task_id: "settled" });
  } else {
    await request(socket, "ping", {});
  }
}

/** The events of one stream, as this socket received them. */
export function streamEvents(socket, messageId) {
  return socket.events.filter((e) => e.data && e.data.message_id === messageId);
}

export function closeAll(...sockets) {
  for (const s of sockets) s.disconnect();
}
