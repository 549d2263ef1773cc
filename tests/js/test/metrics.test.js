// /metrics moves when sockets connect and streams run.
import { test } from "node:test";
import assert from "node:assert/strict";
import { startServer, seedProject, connect, request, nextEvent, api, waitFor } from "./helpers.js";

/** The value of `name` whose labels include every one of `labels` (`{a="b"}`), besides `process`. */
function metric(text, name, labels = "") {
  const wanted = labels.replace(/^\{|\}$/g, "").split(",").filter(Boolean);
  const line = text.split("\n").find((l) => {
    const match = /^([a-z_]+)(?:\{(.*)\})? /.exec(l);
    if (!match || match[1] !== name) return false;
    const have = (match[2] ?? "").split(",").filter((p) => !p.startsWith("process="));
    return wanted.length === have.length && wanted.every((w) => have.includes(w));
  });
  return line ? Number(line.split(" ").at(-1)) : 0;
}

test("connections, rooms, events and streams show in /metrics", async () => {
  const server = await startServer();
  try {
    const scrape = async () => (await api(server.url, "GET", "/metrics")).body;
    const { project, chat } = await seedProject(server.url);
    const before = await scrape();
    const a = await connect(server.url, "websocket");
    const b = await connect(server.url, "polling");
    await request(a, "join_project", { project_id: project.id });
    const during = await scrape();
    assert.equal(metric(during, "ragcast_connected_sockets", '{namespace="/"}') - metric(before, "ragcast_connected_sockets", '{namespace="/"}'), 2);
    assert.equal(metric(during, "ragcast_project_rooms"), 1);
    assert.ok(metric(during, "ragcast_events_in_total", '{event="join_project"}') >= 1);

    const ack = await request(b, "send_message", { chat_id: chat.id, message: "water boil" });
    await nextEvent(b, "message_complete", (d) => d.message_id === ack.message_id);
    await waitFor(async () => metric(await scrape(), "ragcast_stream_duration_seconds_count") >= 1);
    const after = await scrape();
    assert.ok(metric(after, "ragcast_first_token_seconds_count") >= 1);
    assert.ok(metric(after, "ragcast_events_out_total", '{event="message_token"}') > 0);
    assert.ok(metric(after, "ragcast_ingestion_seconds_count") >= 1);
    assert.equal(metric(after, "ragcast_active_streams"), 0);

    a.disconnect();
    b.disconnect();
    await waitFor(async () => metric(await scrape(), "ragcast_connected_sockets", '{namespace="/"}') === metric(before, "ragcast_connected_sockets", '{namespace="/"}'));
  } finally {
    await server.stop();
  }
});
