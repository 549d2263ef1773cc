// The README's nginx configuration (deploy/nginx/ragcast.conf), run as it is with only its
// addresses rewritten: two ragcast processes behind it, streams over websocket and long-polling
// (polling needs the sticky upstream and unbuffered responses), and client addresses taken from
// the X-Forwarded-For nginx appends to.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync, rmSync, chmodSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import net from "node:net";
import { startServer, seedProject, connect, request, nextEvent, streamEvents, sleep, TRANSPORTS } from "./helpers.js";

const CONFIG = new URL("../../../deploy/nginx/ragcast.conf", import.meta.url).pathname;

function nginxBinary() {
  const candidates = [process.env.RAGCAST_NGINX, "nginx", "/usr/sbin/nginx"].filter(Boolean);
  for (const candidate of candidates) {
    try {
      execFileSync(candidate, ["-v"], { stdio: "ignore" });
      return candidate;
    } catch {}
  }
  return null;
}

const NGINX = nginxBinary();
// scripts/test provides nginx (RAGCAST_NGINX) and sets RAGCAST_TEST_REQUIRE_NGINX, so there the
// test fails rather than skips.
const skip = NGINX || process.env.RAGCAST_TEST_REQUIRE_NGINX ? false : "nginx is not installed (scripts/test unpacks Debian's nginx package)";

function freePort() {
  return new Promise((resolve) => {
    const server = net.createServer().listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

async function startNginx(upstreams) {
  assert.ok(NGINX, "nginx is required here (RAGCAST_TEST_REQUIRE_NGINX is set)");
  const dir = mkdtempSync(join(tmpdir(), "ragcast-nginx-"));
  chmodSync(dir, 0o755);
  const port = await freePort();
  const [first, second] = upstreams.map((u) => new URL(u).port);
  const site = readFileSync(CONFIG, "utf8")
    .replace("server 127.0.0.1:3001;", `server 127.0.0.1:${first};`)
    .replace("server 127.0.0.1:3002;", `server 127.0.0.1:${second};`)
    .replace("listen 8080;", `listen 127.0.0.1:${port};`);
  assert.ok(site.includes(`:${first};`) && site.includes(`:${second};`) && site.includes(`:${port};`), "the config's addresses were rewritten");
  writeFileSync(join(dir, "ragcast.conf"), site);
  writeFileSync(
    join(dir, "nginx.conf"),
    `daemon off;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  include ${dir}/ragcast.conf;
}
`,
  );
  const proc = spawn(NGINX, ["-e", "stderr", "-p", dir, "-c", join(dir, "nginx.conf")], { stdio: ["ignore", "ignore", "pipe"] });
  let log = "";
  proc.stderr.on("data", (c) => (log += c));
  const exited = new Promise((resolve) => proc.on("exit", resolve));
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    try {
      await fetch(`${url}/health`);
      break;
    } catch (e) {
      if (i > 200 || proc.exitCode !== null) throw new Error(`nginx did not start: ${log}`);
      await sleep(25);
    }
  }
  return {
    url,
    async close() {
      proc.kill("SIGTERM");
      await exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

test("the README's nginx configuration carries websocket and polling streams to sticky upstreams, with the client's address", { skip }, async () => {
  const env = { RAGCAST_TRUSTED_PROXIES: "127.0.0.1/32", RAGCAST_MAX_CONNECTIONS_PER_IP: "3", RAGCAST_EMBEDDER: "none", RAGCAST_BUILTIN_TOKEN_DELAY_MS: "2" };
  const servers = [await startServer(env), await startServer(env)];
  const nginx = await startNginx(servers.map((s) => s.url));
  try {
    // Upload and seed through nginx: every request of this client reaches the same process.
    const { chat } = await seedProject(nginx.url);
    for (const transport of TRANSPORTS) {
      const socket = await connect(nginx.url, transport, { extraHeaders: { "x-forwarded-for": `203.0.113.${transport.length}` } });
      const ack = await request(socket, "send_message", { chat_id: chat.id, message: "how much of the earth is water?" });
      assert.equal(ack.ok, true, `${transport}: ${JSON.stringify(ack)}`);
      const complete = await nextEvent(socket, "message_complete", (d) => d.message_id === ack.message_id, 30000);
      const stream = streamEvents(socket, ack.message_id);
      const tokens = stream.filter((e) => e.event === "message_token").map((e) => e.data.token);
      assert.ok(tokens.length > 3, `${transport}: tokens arrive one by one`);
      assert.equal(tokens.join(""), complete.content, `${transport}: every token, in order`);
      const order = stream.map((e) => e.event).filter((e) => e !== "message_received");
      assert.equal(order[0], "message_sources", `${transport}: sources before tokens`);
      assert.equal(order.at(-1), "message_complete", `${transport}: complete last`);
      socket.disconnect();
    }
    await sleep(200);

    // The per-address cap counts the addresses nginx forwards, not nginx's own.
    const same = [];
    for (let i = 0; i < 3; i++) same.push(await connect(nginx.url, "websocket", { extraHeaders: { "x-forwarded-for": "198.51.100.7" } }));
    await assert.rejects(connect(nginx.url, "websocket", { extraHeaders: { "x-forwarded-for": "198.51.100.7" } }), /too many connections/);
    const other = await connect(nginx.url, "polling", { extraHeaders: { "x-forwarded-for": "198.51.100.8" } });
    const logs = servers.map((s) => s.log()).join("\n");
    assert.ok(logs.split("\n").some((l) => l.includes("socket connected") && l.includes("198.51.100.7")), "the log names the client");
    for (const s of [...same, other]) s.disconnect();
  } finally {
    await nginx.close();
    for (const s of servers) await s.stop();
  }
});
