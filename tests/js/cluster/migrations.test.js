// Two processes started at once on one empty PostgreSQL database both come up: the migrations
// run under an advisory lock, so the second waits for the first and finds the work done.
import { test } from "node:test";
import assert from "node:assert/strict";
import { DATABASE_URL } from "./cluster.js";
import { dropPostgres, freshPostgres, startServer } from "../test/helpers.js";

const skip = DATABASE_URL ? false : "set RAGCAST_TEST_DATABASE_URL to run the PostgreSQL migration race";

test("two processes migrating one fresh PostgreSQL database at once, ten times", { skip }, async () => {
  for (let round = 0; round < 10; round++) {
    const url = freshPostgres(DATABASE_URL);
    try {
      const started = await Promise.allSettled([0, 1].map((i) => startServer({ DATABASE_URL: url, RAGCAST_NODE_NAME: `m${i}` })));
      const failures = started.filter((s) => s.status === "rejected").map((s) => s.reason.message);
      assert.deepEqual(failures, [], `round ${round}`);
      for (const s of started) await s.value.stop({ keepDb: true });
    } finally {
      dropPostgres(DATABASE_URL, url);
    }
  }
});
