// Hand-built PDFs for the hostile-document tests: pages whose content streams are given as
// bytes, optionally FlateDecode-compressed, so a test can make a decompression bomb of a few
// hundred KB without any PDF library.
import { deflateSync } from "node:zlib";

/** Compressed content, per content buffer: a PDF of many equal pages compresses one. */
const deflated = new WeakMap();

/** A PDF whose page `i` shows `pages[i]` (raw content-stream bytes); `flate` compresses them. */
export function buildPdf(pages, { flate = false } = {}) {
  const bodies = [];
  const add = (body) => {
    bodies.push(body);
    return bodies.length;
  };
  const catalog = add(null);
  const pagesId = add(null);
  const font = add(Buffer.from("<< /Type /Font /Subtype /Type1 /BaseFont /Courier /Encoding /WinAnsiEncoding >>"));
  const kids = [];
  for (const content of pages) {
    if (flate && !deflated.has(content)) deflated.set(content, deflateSync(content, { level: 9 }));
    const data = flate ? deflated.get(content) : content;
    const filter = flate ? " /Filter /FlateDecode" : "";
    const stream = add(Buffer.concat([Buffer.from(`<< /Length ${data.length}${filter} >>\nstream\n`), data, Buffer.from("\nendstream")]));
    kids.push(add(Buffer.from(`<< /Type /Page /Parent ${pagesId} 0 R /Contents ${stream} 0 R /Resources << /Font << /F1 ${font} 0 R >> >> /MediaBox [0 0 595 842] >>`)));
  }
  bodies[catalog - 1] = Buffer.from(`<< /Type /Catalog /Pages ${pagesId} 0 R >>`);
  bodies[pagesId - 1] = Buffer.from(`<< /Type /Pages /Kids [${kids.map((k) => `${k} 0 R`).join(" ")}] /Count ${kids.length} >>`);

  const parts = [Buffer.from("%PDF-1.5\n")];
  let offset = parts[0].length;
  const offsets = [];
  bodies.forEach((body, i) => {
    const obj = Buffer.concat([Buffer.from(`${i + 1} 0 obj\n`), body, Buffer.from("\nendobj\n")]);
    offsets.push(offset);
    offset += obj.length;
    parts.push(obj);
  });
  const xref = [`xref\n0 ${bodies.length + 1}\n`, "0000000000 65535 f \n", ...offsets.map((o) => `${String(o).padStart(10, "0")} 00000 n \n`)].join("");
  parts.push(Buffer.from(`${xref}trailer\n<< /Size ${bodies.length + 1} /Root ${catalog} 0 R >>\nstartxref\n${offset}\n%%EOF\n`));
  return Buffer.concat(parts);
}

/** A content stream that shows `text` once. */
export function textPage(text) {
  return Buffer.from(`BT /F1 12 Tf 50 700 Td (${text}) Tj ET`);
}

/** `bytes` of blank content (spaces): nothing to show, but it must be inflated to find out. */
export function blankPage(bytes) {
  return Buffer.alloc(bytes, 0x20);
}

/** Uploads `bytes` as a multipart file; resolves with `{ status, body }`. */
export async function uploadFile(url, projectId, filename, bytes, type = "application/pdf") {
  const form = new FormData();
  form.append("file", new Blob([bytes], { type }), filename);
  const res = await fetch(`${url}/api/projects/${projectId}/documents`, { method: "POST", body: form });
  return { status: res.status, body: await res.json() };
}
