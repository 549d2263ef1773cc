"""python-socketio's AsyncClient over long-polling only, through a whole stream (issue 14).

Its client refuses a polling response of more than 16 packets (engineio's
Payload.max_decode_packets); ragcast caps its responses (--polling-max-packets) so this works
unchanged. Starts the server binary ($RAGCAST_BIN) itself on a free port with a fresh database.

    RAGCAST_BIN=target/debug/ragcast python tests/python/polling_stream.py
"""

import asyncio
import os
import re
import subprocess
import sys
import tempfile

import aiohttp
import socketio

LONG = " ".join(f"Fact {i}: water covers {i + 1} percent of something remarkable." for i in range(40))


async def start_server(workdir):
    env = dict(os.environ)
    env.update(
        RAGCAST_BIND="127.0.0.1:0",
        DATABASE_URL=f"sqlite://{workdir}/py.db?mode=rwc",
        RAGCAST_EMBEDDER="none",
        RAGCAST_BUILTIN_TOKEN_DELAY_MS="0",
        RUST_LOG="warn,ragcast::app=info",
    )
    proc = await asyncio.create_subprocess_exec(
        os.environ["RAGCAST_BIN"], env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL
    )
    while True:
        line = (await asyncio.wait_for(proc.stderr.readline(), 30)).decode()
        if not line:
            raise RuntimeError("the server exited before listening")
        match = re.search(r"listening on (http://[\d.:]+)", line)
        if match:
            return proc, match.group(1)


async def main():
    with tempfile.TemporaryDirectory() as workdir:
        proc, url = await start_server(workdir)
        try:
            async with aiohttp.ClientSession() as http:
                async def post(path, body):
                    async with http.post(url + path, json=body) as res:
                        assert res.status < 300, (path, res.status, await res.text())
                        return await res.json()

                project = await post("/api/projects", {"name": "py"})
                chat = await post(f"/api/projects/{project['id']}/chats", {})
                doc = await post(f"/api/projects/{project['id']}/documents", {"filename": "long.txt", "content": LONG})
                for _ in range(200):
                    async with http.get(f"{url}/api/projects/{project['id']}/documents") as res:
                        if (await res.json())[0]["status"] == "completed":
                            break
                    await asyncio.sleep(0.05)

            client = socketio.AsyncClient(reconnection=False)
            tokens, done = [], asyncio.Event()
            complete = {}

            @client.on("message_token")
            async def on_token(data):
                tokens.append((data["index"], data["token"]))

            @client.on("message_complete")
            async def on_complete(data):
                complete.update(data)
                done.set()

            await client.connect(url, transports=["polling"])
            assert client.transport() == "polling", client.transport()
            joined = await client.call("join_project", {"project_id": project["id"]}, timeout=10)
            assert joined["ok"], joined
            ack = await client.call(
                "send_message", {"chat_id": chat["id"], "message": "water facts", "top_k": 10}, timeout=10
            )
            assert ack["ok"], ack
            await asyncio.wait_for(done.wait(), 60)
            assert client.connected, "the polling transport stayed up"
            indices = [i for i, _ in tokens]
            missing = sorted(set(range(max(indices) + 1)) - set(indices))
            assert not missing, f"missing tokens {missing[:10]} of {len(indices)}"
            assert indices == list(range(len(tokens))), f"out of order: {indices[:40]}"
            assert len(tokens) > 100, f"a long stream ({len(tokens)} tokens)"
            assert "".join(t for _, t in tokens) == complete["content"]
            await client.disconnect()
            print(f"python-socketio over polling: {len(tokens)} tokens, complete and in order")
        finally:
            proc.terminate()
            await proc.wait()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except AssertionError as e:
        print(f"FAILED: {e}", file=sys.stderr)
        raise
