// Several ragcast processes as one server: one PostgreSQL database and one Redis key prefix per
// test file, N processes on their own ports.
import { execFileSync, spawn } from "node:child_process";
import { createServer } from "node:net";
import { dropPostgres, freshPostgres, startServer, sleep, waitFor } from "../test/helpers.js";

export const DATABASE_URL = process.env.RAGCAST_TEST_DATABASE_URL;
export const REDIS_URL = process.env.RAGCAST_TEST_REDIS_URL;

/** Why the cluster tests cannot run here, or null. A set but unreachable URL fails instead. */
export const skipReason =
  DATABASE_URL && REDIS_URL ? null : "set RAGCAST_TEST_DATABASE_URL and RAGCAST_TEST_REDIS_URL to run the multi-process tests";

const unique = () => `${process.pid}_${Date.now()}_${Math.floor(Math.random() * 1e6)}`;

/** A fresh PostgreSQL database next to the test one; `drop()` removes it. */
function freshDatabase() {
  const url = freshPostgres(DATABASE_URL);
  return { url, drop: () => dropPostgres(DATABASE_URL, url) };
}

/**
 * `count` processes sharing one fresh database and one fresh Redis prefix. The first starts alone
 * (it runs the migrations), the others after it.
 */
export async function startCluster(count, env = {}, { redisUrl = REDIS_URL } = {}) {
  const database = freshDatabase();
  const prefix = `ragcast-test-${unique()}`;
  const nodeEnv = (i) => ({
    DATABASE_URL: database.url,
    REDIS_URL: redisUrl,
    RAGCAST_REDIS_PREFIX: prefix,
    RAGCAST_NODE_NAME: `node${i}`,
    RAGCAST_NODE_LEASE_SECS: "2",
    ...env,
  });
  const nodes = [await startServer(nodeEnv(0))];
  for (let i = 1; i < count; i++) nodes.push(await startServer(nodeEnv(i)));
  return {
    nodes,
    prefix,
    database,
    async stop() {
      await Promise.all(nodes.map((n) => n.stop({ keepDb: true })));
      database.drop();
    },
  };
}

/** A private redis-server on a free port, for the test that restarts Redis. */
export async function startRedis(port) {
  port ??= await freePort();
  const proc = spawn("redis-server", ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"], {
    stdio: "ignore",
  });
  const exited = new Promise((resolve) => proc.on("exit", resolve));
  await waitFor(async () => {
    try {
      execFileSync("redis-cli", ["-p", String(port), "ping"], { stdio: "ignore" });
      return true;
    } catch {
      return false;
    }
  });
  return {
    port,
    url: `redis://127.0.0.1:${port}/`,
    /** Stops (SIGSTOP) or resumes (SIGCONT) it: a Redis that hangs without closing sockets. */
    pause(paused = true) {
      proc.kill(paused ? "SIGSTOP" : "SIGCONT");
    },
    async kill() {
      proc.kill("SIGCONT");
      proc.kill("SIGKILL");
      await exited;
    },
  };
}

function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
    server.on("error", reject);
  });
}

export { sleep };
