// The quick-start example runs against a fresh server and prints a sourced, streamed answer.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { startServer } from "../test/helpers.js";

test("examples/quickstart prints sources and the streamed answer", async () => {
  const server = await startServer();
  try {
    const script = new URL("../../../examples/quickstart/index.mjs", import.meta.url).pathname;
    const { stdout } = await promisify(execFile)("node", [script, server.url], { timeout: 60000 });
    assert.match(stdout, /document water\.md: completed 100%/);
    assert.match(stdout, /\[1\] water\.md/);
    assert.match(stdout, /answer: Water boils at 100 degrees Celsius at sea level\. \[1\]/);
    assert.match(stdout, /tokens, first after \d+ ms/);
  } finally {
    await server.stop();
  }
});
