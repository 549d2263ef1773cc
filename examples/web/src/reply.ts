// One assistant reply as it streams: tokens by index (a replayed token is the same token),
// reasoning in a collapsible block, sources linked from the `[n]` citations.

import type { Source } from "./api";

const escape = (text: string) =>
  text.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!);

export class Reply {
  readonly el: HTMLElement;
  private tokens: string[] = [];
  private reasoning: string[] = [];
  private sources: Source[] = [];
  private final: string | null = null;
  complete = false;

  constructor(readonly messageId: number, readonly chatId: number) {
    this.el = document.createElement("article");
    this.el.className = "message assistant streaming";
    this.el.dataset.testid = "reply";
    this.el.dataset.messageId = String(messageId);
    this.el.innerHTML = `
      <details class="reasoning" hidden><summary>Reasoning</summary><pre></pre></details>
      <div class="content" data-testid="reply-content"></div>
      <ol class="sources" data-testid="sources"></ol>
      <div class="meta"></div>`;
  }

  /** The last index received: what `resume_message` asks after. */
  lastIndex(): number | null {
    return this.tokens.length ? this.tokens.length - 1 : null;
  }

  setSources(sources: Source[]) {
    this.sources = sources;
    const list = this.el.querySelector(".sources")!;
    list.innerHTML = sources
      .map((s, i) => {
        const page = s.metadata.page == null ? "" : `, page ${s.metadata.page}`;
        return `<li id="src-${this.messageId}-${i + 1}" data-testid="source"><strong>${escape(s.metadata.filename)}${page}</strong> <span class="score">${s.score.toFixed(2)}</span><br/><span class="snippet">${escape(s.content.slice(0, 160))}…</span></li>`;
      })
      .join("");
  }

  token(index: number, token: string) {
    this.tokens[index] = token;
    this.render();
  }

  reason(index: number, token: string) {
    this.reasoning[index] = token;
    const block = this.el.querySelector<HTMLDetailsElement>(".reasoning")!;
    block.hidden = false;
    block.querySelector("pre")!.textContent = this.reasoning.join("");
  }

  finish(content: string, meta: { tokens: number; finish_reason: string; first_token_ms: number | null; duration_ms: number }) {
    this.final = content;
    this.complete = true;
    this.el.classList.remove("streaming");
    this.el.classList.add(`finish-${meta.finish_reason}`);
    this.el.dataset.finishReason = meta.finish_reason;
    this.el.querySelector(".meta")!.textContent =
      `${meta.tokens} tokens · ${meta.finish_reason} · first token ${meta.first_token_ms ?? "–"} ms · ${meta.duration_ms} ms`;
    this.render();
  }

  /** A stored reply from the history. */
  static stored(messageId: number, chatId: number, content: string, status: string, sources: Source[]): Reply {
    const reply = new Reply(messageId, chatId);
    reply.setSources(sources ?? []);
    reply.final = content;
    reply.complete = status !== "streaming";
    reply.el.classList.toggle("streaming", !reply.complete);
    reply.el.dataset.finishReason = status;
    reply.render();
    return reply;
  }

  private render() {
    const text = this.final ?? this.tokens.join("");
    // Citations link to their source, when there is one.
    const html = escape(text).replace(/\[(\d+)\]/g, (match, n) =>
      Number(n) >= 1 && Number(n) <= this.sources.length
        ? `<a class="cite" data-testid="citation" href="#src-${this.messageId}-${n}">[${n}]</a>`
        : match,
    );
    this.el.querySelector(".content")!.innerHTML = html;
  }
}
