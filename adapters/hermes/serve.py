"""hermes-agent behind a small HTTP front, for keypool conform.

hermes-agent is an agent, not a proxy: this driver serves each incoming client request by
running one `AIAgent` conversation with a `CredentialPool` of the scenario's keys (shared by
all requests of the run, as one agent process shares its pool), and answers with the agent's
final answer or its final error. The client's API picks hermes' API mode: `/v1/chat/completions`
runs the default (chat completions, streamed), `/v1/responses` runs `api_mode=codex_responses`.
Each run gets its own HERMES_HOME (hermes persists the pool's state there).
"""
import json
import os
import re
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

cfg = json.load(open(sys.argv[1]))
home = os.path.join(cfg["workdir"], "hermes-home")
os.makedirs(home, exist_ok=True)
os.environ["HERMES_HOME"] = home
strategy = cfg["providers"][0]["strategy"]
with open(os.path.join(home, "config.yaml"), "w") as f:
    f.write("credential_pool_strategies:\n  custom: %s\n" % strategy)

from agent.credential_pool import CredentialPool, PooledCredential  # noqa: E402
from run_agent import AIAgent  # noqa: E402

base = cfg["upstream_v1"]
keys = sorted(cfg["providers"][0]["keys"], key=lambda k: k["priority"])
pool = CredentialPool("custom", [
    PooledCredential(provider="custom", id=k["label"], label=k["label"], auth_type="api_key",
                     priority=i, source="manual", access_token=k["secret"], base_url=base)
    for i, k in enumerate(keys)
])


def converse(text, api_mode):
    # A conversation starts on the credential the pool selects, as hermes' runtime provider
    # resolution does (an exhausted key is passed over), not on a fixed first key.
    entry = pool.select()
    api_key = entry.runtime_api_key if entry is not None else keys[0]["secret"]
    agent = AIAgent(base_url=base, api_key=api_key, provider="custom",
                    model=cfg["model"], api_mode=api_mode, credential_pool=pool,
                    quiet_mode=True, max_iterations=1, enabled_toolsets=[],
                    skip_context_files=True, skip_memory=True)
    return agent.run_conversation(text)


def user_text(body):
    msgs = body.get("messages")
    if isinstance(msgs, list) and msgs:
        c = msgs[-1].get("content", "")
        return c if isinstance(c, str) else json.dumps(c)
    inp = body.get("input")
    return inp if isinstance(inp, str) else json.dumps(inp)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def send(self, status, obj):
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        self.send(200, {"status": "ok"})

    def do_POST(self):
        n = int(self.headers.get("content-length") or 0)
        try:
            body = json.loads(self.rfile.read(n) or b"{}")
        except ValueError:
            return self.send(400, {"error": {"message": "not JSON", "type": "invalid_request_error"}})
        responses = self.path.rstrip("/").endswith("/responses")
        mode = "codex_responses" if responses else None
        try:
            r = converse(user_text(body), mode)
        except Exception as e:  # hermes raised instead of returning a failed result
            return self.send(502, {"error": {"message": "%s: %s" % (type(e).__name__, e), "type": "hermes_exception"}})
        if r.get("failed") or not r.get("completed"):
            err = str(r.get("error") or r.get("final_response") or "failed")
            m = re.search(r"HTTP (\d{3})", err)
            status = int(m.group(1)) if m else 502
            return self.send(status, {"error": {"message": err, "type": "hermes_error"}})
        text = r.get("final_response") or ""
        if responses:
            return self.send(200, {"id": "resp_hermes", "object": "response", "status": "completed",
                                   "output": [{"type": "message", "role": "assistant",
                                               "content": [{"type": "output_text", "text": text}]}]})
        self.send(200, {"id": "chatcmpl-hermes", "object": "chat.completion", "model": cfg["model"],
                        "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                                     "finish_reason": "stop"}]})


# Warm up before answering ready: the first AIAgent imports its providers and probes the
# upstream's model endpoints (answered outside the scripts), which takes seconds; requests then
# start their calls when they arrive, as in a long-running agent.
AIAgent(base_url=base, api_key=keys[0]["secret"], provider="custom", model=cfg["model"],
        credential_pool=pool, quiet_mode=True, max_iterations=1, enabled_toolsets=[],
        skip_context_files=True, skip_memory=True)

server = ThreadingHTTPServer(("127.0.0.1", cfg["port"]), Handler)
server.daemon_threads = True
print("hermes driver listening on 127.0.0.1:%d" % cfg["port"], flush=True)
threading.Thread(target=server.serve_forever, daemon=True).start()
try:
    threading.Event().wait()
except KeyboardInterrupt:
    pass
