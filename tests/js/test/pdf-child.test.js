// The PDF extraction child dies with the server: a kill -9 of the server mid-extraction leaves
// no child behind (the kernel kills it: PR_SET_PDEATHSIG). The PDF is one page that takes the
// child several seconds to parse without writing anything: a child that only noticed its
// server's death at its next write would outlive it by those seconds.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { startServer, seedProject, waitFor } from "./helpers.js";
import { buildPdf, uploadFile } from "./pdf.js";

/** Pids of the extraction children of `parent` (Linux /proc). */
function extractionChildren(parent) {
  return readdirSync("/proc")
    .filter((name) => /^\d+$/.test(name))
    .filter((pid) => {
      try {
        const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
        const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
        return ppid === parent && readFileSync(`/proc/${pid}/cmdline`, "utf8").includes("extract-pdf");
      } catch {
        return false;
      }
    })
    .map(Number);
}

const alive = (pid) => {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return !/^\d+ \(.*\) Z/.test(stat); // a zombie is dead
  } catch {
    return false;
  }
};

test("kill -9 of the server mid-extraction takes the extraction child with it", async () => {
  const server = await startServer({
    RAGCAST_PDF_MAX_TEXT_MB: "4096",
    RAGCAST_PDF_MAX_INFLATED_MB: "4096",
    RAGCAST_PDF_MEMORY_MB: "8192",
    RAGCAST_PDF_TIMEOUT_SECS: "600",
  });
  const { project } = await seedProject(server.url, []);
  // 3 million words on one page (30 MB of operators): about 6 s of parsing, no output before.
  const page = Buffer.from(`BT /F1 12 Tf 50 700 Td ${"(word) Tj ".repeat(3_000_000)}ET`);
  const pdf = buildPdf([page], { flate: true });
  const upload = await uploadFile(server.url, project.id, "long.pdf", pdf);
  assert.equal(upload.status, 202, JSON.stringify(upload.body));
  let children = [];
  await waitFor(() => (children = extractionChildren(server.proc.pid)).length > 0, 30000, 20);
  server.proc.kill("SIGKILL");
  await server.exited;
  await waitFor(() => children.every((pid) => !alive(pid)), 2000, 20);
  await server.stop();
});
