// One assistant reply as it streams: tokens by index (a replayed token is the same token; a
// merged one, `from_index..index`, fills its whole range), reasoning in a collapsible block,
// sources linked from the `[n]` citations.

import type { Source } from "./api";

const escape = (text: string) =>
  text.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!);

export type Snapshot = {
  chat_id: number;
  message_id: number;
  content: string;
  reasoning: string;
  last_index: number | null;
  last_reasoning_index: number | null;
  sources: Source[];
  status: string;
};

/** `text` at slot `from`, and empty slots up to `to`, so the slots stay aligned with indexes. */
function fill(slots: string[], from: number, to: number, text: string) {
  slots[from] = text;
  for (let i = from + 1; i <= to; i++) slots[i] = "";
}

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

  /** Where the last `resume_message` started, for its snapshot. */
  resumedAfter: number | null = null;

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

  token(index: number, token: string, fromIndex = index) {
    fill(this.tokens, fromIndex, index, token);
    this.render();
  }

  reason(index: number, token: string, fromIndex = index) {
    fill(this.reasoning, fromIndex, index, token);
    this.showReasoning();
  }

  /** A compact resume's `message_snapshot`: everything after `after` so far, in one piece. */
  snapshot(s: Snapshot, after: number | null) {
    this.setSources(s.sources);
    const start = after == null ? 0 : after + 1;
    this.tokens.length = Math.min(this.tokens.length, start);
    if (s.last_index != null && s.last_index >= start) fill(this.tokens, start, s.last_index, s.content);
    if (after == null && s.last_reasoning_index != null) {
      this.reasoning = [];
      fill(this.reasoning, 0, s.last_reasoning_index, s.reasoning);
      this.showReasoning();
    }
    this.render();
  }

  private showReasoning() {
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
