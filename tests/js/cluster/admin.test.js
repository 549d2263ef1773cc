// The Admin UI's namespace on two processes: each reports its own server_stats with its own
// serverId to every admin socket, wherever it is connected (issue 18).
import { test, describe } from "node:test";
import assert from "node:assert/strict";
import { io } from "socket.io-client";
import { waitFor } from "../test/helpers.js";
import { skipReason, startCluster } from "./cluster.js";

describe("the Admin UI across nodes", { skip: skipReason ?? false }, () => {
  test("an admin on node 0 sees both nodes' server_stats, each with its serverId", async () => {
    const cluster = await startCluster(2, { RAGCAST_ADMIN: "true" });
    try {
      const [a] = cluster.nodes;
      const admin = io(`${a.url}/admin`, { transports: ["websocket"], forceNew: true, reconnection: false });
      const servers = new Map();
      admin.on("server_stats", (stats) => servers.set(stats.serverId, stats));
      await waitFor(() => servers.has("node0") && servers.has("node1"), 10000);
      assert.notEqual(servers.get("node0").pid, servers.get("node1").pid);
      assert.deepEqual(servers.get("node1").namespaces.map((n) => n.name), ["/", "/admin"]);
      admin.disconnect();
    } finally {
      await cluster.stop();
    }
  });
});
