"""A back end that produces its own answer and streams it through ragcast (PROTOCOL §9.3).

It asks an OpenAI-compatible model server for a streamed answer (any `/v1/chat/completions`),
reports a tool step around it, and forwards the answer's tokens to ragcast as pieces, in batches,
each with its `seq` so a retried batch never doubles a token. Every member of the chat's project
room sees the answer live; ragcast stores it. When someone cancels the reply, ragcast's answer to
the next batch says `cancelled: true` and this back end stops asking the model.

    pip install httpx
    python producer.py http://127.0.0.1:8000 CHAT_ID "When does water boil?" \
        --model-url http://127.0.0.1:11434/v1 --model llama3.2 [--api-key RAGCAST_API_KEY]
"""

import argparse
import json
import sys

import httpx

BATCH = 20  # tokens per `pieces` request


class Stream:
    """One reply streamed into a ragcast chat, piece by piece."""

    def __init__(self, ragcast: httpx.Client, chat_id: int, question: str, model: str):
        started = ragcast.post(
            f"/api/chats/{chat_id}/streams",
            json={"user_message": {"content": question}, "model": model},
        )
        started.raise_for_status()
        self.message_id = started.json()["message_id"]
        self.ragcast = ragcast
        self.seq = 0
        self.pending = []
        self.cancelled = False

    def add(self, piece: dict):
        self.pending.append({"seq": self.seq, **piece})
        self.seq += 1

    def send(self):
        """Posts what is pending; remembers whether the reply was cancelled."""
        if not self.pending:
            return
        body = "".join(json.dumps(p) + "\n" for p in self.pending)
        answer = self.ragcast.post(
            f"/api/messages/{self.message_id}/pieces",
            content=body,
            headers={"content-type": "application/x-ndjson"},
        )
        answer.raise_for_status()
        self.pending = []
        self.cancelled = answer.json()["cancelled"]


def model_tokens(model_url: str, model: str, question: str):
    """The model's answer as it streams (OpenAI's SSE chunks)."""
    with httpx.stream(
        "POST",
        f"{model_url}/chat/completions",
        json={"model": model, "stream": True, "messages": [{"role": "user", "content": question}]},
        timeout=60,
    ) as response:
        response.raise_for_status()
        for line in response.iter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            delta = json.loads(line[6:])["choices"][0].get("delta", {})
            if delta.get("content"):
                yield delta["content"]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("ragcast")
    parser.add_argument("chat_id", type=int)
    parser.add_argument("question")
    parser.add_argument("--model-url", required=True)
    parser.add_argument("--model", default="gpt-4o-mini")
    parser.add_argument("--api-key", default=None)
    args = parser.parse_args()

    headers = {"authorization": f"Bearer {args.api_key}"} if args.api_key else {}
    with httpx.Client(base_url=args.ragcast, headers=headers, timeout=30) as ragcast:
        stream = Stream(ragcast, args.chat_id, args.question, args.model)
        stream.add({"type": "sources", "sources": [{"content": "What the search tool found.", "metadata": {"tool": "search"}, "score": 0.8}]})
        stream.add({"type": "reasoning", "text": "I will look it up first. "})
        stream.add({"type": "step", "step": {"id": "search", "name": "search the web", "status": "started"}})
        stream.add({"type": "tool_call", "call": {"id": "call-1", "name": "search", "arguments": {"query": args.question}}})
        stream.add({"type": "tool_result", "call_id": "call-1", "result": {"hits": 1}})
        stream.add({"type": "step", "step": {"id": "search", "name": "search the web", "status": "done", "progress": 100}})
        stream.send()
        tokens = 0
        for token in model_tokens(args.model_url, args.model, args.question):
            if stream.cancelled:
                print(f"cancelled after {tokens} tokens: stopping")
                return
            stream.add({"type": "token", "text": token})
            tokens += 1
            if len(stream.pending) >= BATCH:
                stream.send()
        stream.add({"type": "end", "finish_reason": "stop"})
        stream.send()
        print(f"streamed {tokens} tokens as message {stream.message_id}")


if __name__ == "__main__":
    sys.exit(main())
