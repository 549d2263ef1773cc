// A client that sends CONNECT and, at once, a packet that cannot be parsed (issue 15, seen with
// the socket.io-protocol suite): its connection is closed at once, over both transports, the
// server logs it as closed (never as connected after its disconnect), and nothing of it is left:
// the connected-sockets gauge is back to 0 and its address's connection slots are free.
import { test } from "node:test";
import assert from "node:assert/strict";
import WebSocket from "ws";
import { startServer, connect, closeAll, waitFor } from "./helpers.js";

const ROUNDS = 30;
const BAD = '42abc["x"]';

function websocketRound(url) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${url.replace("http", "ws")}/socket.io/?EIO=4&transport=websocket`);
    const timer = setTimeout(() => {
      ws.terminate();
      reject(new Error("the connection was still open after 3 s"));
    }, 3000);
    ws.on("message", (m) => {
      if (m.toString().startsWith("0")) {
        ws.send("40");
        ws.send(BAD);
      }
    });
    ws.on("error", () => {});
    ws.on("close", () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

async function pollingRound(url) {
  const open = await (await fetch(`${url}/socket.io/?EIO=4&transport=polling`)).text();
  const { sid } = JSON.parse(open.slice(1));
  const session = `${url}/socket.io/?EIO=4&transport=polling&sid=${sid}`;
  await Promise.all([fetch(session, { method: "POST", body: "40" }), fetch(session, { method: "POST", body: BAD })]);
  // The session is gone: a poll is refused at once (socket.io's "Session ID unknown").
  await waitFor(async () => (await fetch(session)).status === 400, 3000);
}

async function connectedGauge(url) {
  const text = await (await fetch(`${url}/metrics`)).text();
  const line = text.split("\n").find((l) => l.startsWith("ragcast_connected_sockets"));
  return line ? Number(line.split(" ").at(-1)) : 0;
}

test("CONNECT then an unparsable packet: closed at once, logged once, nothing left behind", async () => {
  const server = await startServer({ RAGCAST_MAX_CONNECTIONS_PER_IP: "3", RUST_LOG: "warn,ragcast=info" });
  try {
    for (let i = 0; i < ROUNDS; i++) {
      await websocketRound(server.url);
      await pollingRound(server.url);
    }
    await waitFor(async () => (await connectedGauge(server.url)) === 0, 3000);
    // Every socket that was logged connected was logged disconnected after it, once.
    const lines = server.log().replace(/\x1b\[[0-9;]*m/g, "").split("\n");
    const events = new Map();
    for (const line of lines) {
      // Logs name a socket by its public id, never its session id.
      const sid = /socket=(\S+)/.exec(line)?.[1];
      const what = /socket (connected|disconnected|closed during its handshake)/.exec(line)?.[1];
      if (sid && what) events.set(sid, [...(events.get(sid) ?? []), what]);
    }
    assert.ok(events.size > 0, "the sockets are logged");
    for (const [sid, seen] of events) {
      const ok = (seen.length === 2 && seen[0] === "connected" && seen[1] === "disconnected") || (seen.length === 1 && seen[0] === "closed during its handshake");
      assert.ok(ok, `${sid}: ${seen.join(", ")}`);
    }
    // The address's slots were all given back: three ordinary clients fit under the cap of 3.
    const sockets = [];
    for (let i = 0; i < 3; i++) sockets.push(await connect(server.url, "websocket"));
    closeAll(...sockets);
  } finally {
    await server.stop();
  }
});
