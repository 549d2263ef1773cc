// A back end that produces its own answer and streams it through ragcast (PROTOCOL §9.3), in
// ONE long request: each piece is an NDJSON line written as the model produces it, and ragcast
// applies it as it arrives. The model is any OpenAI-compatible `/v1/chat/completions`.
//
//   node producer.mjs http://127.0.0.1:8000 CHAT_ID "When does water boil?" \
//        --model-url http://127.0.0.1:11434/v1 --model llama3.2 [--api-key RAGCAST_API_KEY]
//
// Node 20+ (fetch with a streamed request body). No dependency.

const [ragcast, chatId, question, ...rest] = process.argv.slice(2);
const option = (name, fallback) => {
  const at = rest.indexOf(`--${name}`);
  return at >= 0 ? rest[at + 1] : fallback;
};
const modelUrl = option("model-url");
const model = option("model", "gpt-4o-mini");
const apiKey = option("api-key");
const auth = apiKey ? { authorization: `Bearer ${apiKey}` } : {};

/** The model's answer as it streams (OpenAI's SSE chunks). */
async function* modelTokens() {
  const res = await fetch(`${modelUrl}/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ model, stream: true, messages: [{ role: "user", content: question }] }),
  });
  if (!res.ok) throw new Error(`model server: ${res.status}`);
  const decoder = new TextDecoder();
  let pending = "";
  for await (const chunk of res.body) {
    pending += decoder.decode(chunk, { stream: true });
    let end;
    while ((end = pending.indexOf("\n")) >= 0) {
      const line = pending.slice(0, end).trim();
      pending = pending.slice(end + 1);
      if (!line.startsWith("data: ") || line === "data: [DONE]") continue;
      const delta = JSON.parse(line.slice(6)).choices[0]?.delta ?? {};
      if (delta.content) yield delta.content;
    }
  }
}

const started = await fetch(`${ragcast}/api/chats/${chatId}/streams`, {
  method: "POST",
  headers: { "content-type": "application/json", ...auth },
  body: JSON.stringify({ user_message: { content: question }, model }),
});
if (!started.ok) throw new Error(`ragcast: ${started.status} ${await started.text()}`);
const { message_id: messageId } = await started.json();

let seq = 0;
let tokens = 0;
const encoder = new TextEncoder();
const line = (piece) => encoder.encode(JSON.stringify({ seq: seq++, ...piece }) + "\n");
const body = new ReadableStream({
  async start(controller) {
    controller.enqueue(line({ type: "sources", sources: [{ content: "What the search tool found.", metadata: { tool: "search" }, score: 0.8 }] }));
    controller.enqueue(line({ type: "reasoning", text: "I will look it up first. " }));
    controller.enqueue(line({ type: "step", step: { id: "search", name: "search the web", status: "started" } }));
    controller.enqueue(line({ type: "tool_call", call: { id: "call-1", name: "search", arguments: { query: question } } }));
    controller.enqueue(line({ type: "tool_result", call_id: "call-1", result: { hits: 1 } }));
    controller.enqueue(line({ type: "step", step: { id: "search", name: "search the web", status: "done", progress: 100 } }));
    for await (const token of modelTokens()) {
      controller.enqueue(line({ type: "token", text: token }));
      tokens += 1;
    }
    controller.enqueue(line({ type: "end", finish_reason: "stop" }));
    controller.close();
  },
});
const answer = await fetch(`${ragcast}/api/messages/${messageId}/pieces`, {
  method: "POST",
  headers: { "content-type": "application/x-ndjson", ...auth },
  body,
  duplex: "half",
});
const result = await answer.json();
if (!answer.ok) throw new Error(`ragcast: ${answer.status} ${JSON.stringify(result)}`);
console.log(result.cancelled ? `cancelled after ${tokens} tokens` : `streamed ${tokens} tokens as message ${messageId}`);
