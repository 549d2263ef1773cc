// Helpers for slow receivers: a socket.io-client receiver in its own process (../receiver.mjs),
// so a test can SIGSTOP it; a raw websocket client that stops reading; the check of merged
// token ranges.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import WebSocket from "ws";
import { waitFor } from "./helpers.js";

/** The receiver process (receiver.mjs) and a promise of its one result line. */
export async function receiverProcess(url, projectId, transport) {
  const child = spawn(process.execPath, [new URL("../receiver.mjs", import.meta.url).pathname, url, String(projectId), transport], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  const lines = createInterface({ input: child.stdout });
  const iterator = lines[Symbol.asyncIterator]();
  const first = await iterator.next();
  assert.equal(first.value, "ready");
  const result = iterator.next().then(({ value }) => JSON.parse(value));
  return { child, result };
}

/** The merged tokens' ranges cover 0..last once each, in order. */
export function assertRangesCover(tokens, last) {
  let next = 0;
  for (const t of tokens) {
    const from = t.from_index ?? t.index;
    assert.equal(from, next, `a gap or an overlap at ${next}: ${JSON.stringify({ from, index: t.index })}`);
    assert.ok(t.index >= from);
    next = t.index + 1;
  }
  assert.equal(next, last + 1);
}

/** A raw Engine.IO/Socket.IO websocket client joined to `projectId`, then paused: it reads no more. */
export async function pausedClient(url, projectId) {
  const ws = new WebSocket(`${url.replace("http", "ws")}/socket.io/?EIO=4&transport=websocket`);
  const frames = [];
  ws.on("message", (data) => {
    const text = data.toString();
    frames.push(text);
    if (text === "2") ws.send("3");
  });
  await new Promise((resolve) => ws.once("open", resolve));
  ws.send("40");
  await waitFor(() => frames.some((f) => f.startsWith("40{")));
  ws.send(`42${JSON.stringify(["join_project", { project_id: projectId }])}`);
  await waitFor(() => frames.some((f) => f.includes("project_joined")));
  ws.closed = new Promise((resolve) => ws.once("close", resolve));
  ws.frames = frames;
  ws._socket.pause();
  return ws;
}

/**
 * A raw Engine.IO long-polling client, connected to the main namespace: it polls only when the
 * test says so, so everything the server sends it waits in the server meanwhile.
 */
export async function rawPollingClient(url) {
  const base = `${url}/socket.io/?EIO=4&transport=polling`;
  const { sid } = JSON.parse((await (await fetch(base)).text()).slice(1));
  const endpoint = `${base}&sid=${sid}`;
  const client = {
    /** One poll: the Socket.IO packets it brought (pings are answered and left out); none when
     * nothing came within `timeoutMs`. */
    async poll(timeoutMs = 30000) {
      let text;
      try {
        text = await (await fetch(endpoint, { signal: AbortSignal.timeout(timeoutMs) })).text();
      } catch (e) {
        if (e.name === "TimeoutError") return [];
        throw e;
      }
      const packets = text.split("\x1e");
      if (packets.includes("2")) await client.post("3");
      return packets.filter((p) => p !== "2");
    },
    post: (body) => fetch(endpoint, { method: "POST", body }),
  };
  await client.post("40");
  // Engine.IO sends its first ping as the session opens, so the connect ack may come in a later
  // poll than the ping.
  for (let polls = 0; ; polls++) {
    if ((await client.poll()).some((p) => p.startsWith('40{"sid"'))) break;
    assert.ok(polls < 5, "no connect ack in five polls");
  }
  return client;
}
