// A small reverse proxy for the tests: HTTP and websocket upgrades, to the first upstream that
// accepts the connection (so a stopped process fails over to the next). It sets
// X-Forwarded-For to the request's `x-test-client` header, standing for distinct clients behind
// one proxy address, as nginx's `proxy_add_x_forwarded_for` would.
import http from "node:http";
import net from "node:net";

export async function startProxy(upstreams) {
  const targets = upstreams.map((u) => new URL(u));
  const forwardedHeaders = (req) => {
    const headers = { ...req.headers };
    const client = req.headers["x-test-client"] ?? req.socket.remoteAddress;
    headers["x-forwarded-for"] = client;
    delete headers["x-test-client"];
    return headers;
  };
  const connectUpstream = (index = 0) =>
    new Promise((resolve, reject) => {
      if (index >= targets.length) return reject(new Error("no upstream answers"));
      const { hostname, port } = targets[index];
      const socket = net.connect(Number(port), hostname);
      socket.once("connect", () => resolve({ socket, target: targets[index] }));
      socket.once("error", () => connectUpstream(index + 1).then(resolve, reject));
    });

  const tunnels = new Set();
  const server = http.createServer(async (req, res) => {
    try {
      const { socket, target } = await connectUpstream();
      socket.destroy();
      const upstream = http.request(
        { hostname: target.hostname, port: target.port, path: req.url, method: req.method, headers: forwardedHeaders(req) },
        (up) => {
          res.writeHead(up.statusCode, up.headers);
          up.pipe(res);
        },
      );
      upstream.on("error", () => res.destroy());
      req.pipe(upstream);
    } catch {
      res.writeHead(502).end();
    }
  });
  server.on("upgrade", async (req, client, head) => {
    try {
      const { socket } = await connectUpstream();
      tunnels.add(socket).add(client);
      const headers = forwardedHeaders(req);
      const lines = [`${req.method} ${req.url} HTTP/1.1`, ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`), "", ""];
      socket.write(lines.join("\r\n"));
      if (head?.length) socket.write(head);
      socket.pipe(client);
      client.pipe(socket);
      socket.on("error", () => client.destroy());
      client.on("error", () => socket.destroy());
      socket.on("close", () => client.destroy());
      client.on("close", () => socket.destroy());
    } catch {
      client.destroy();
    }
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    close: () =>
      new Promise((resolve) => {
        for (const socket of tunnels) socket.destroy();
        server.closeAllConnections?.();
        server.close(resolve);
      }),
  };
}
