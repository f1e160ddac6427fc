"""hermes-agent's classifier in-process on the lines of a classify corpus: the peer figure of
`cargo bench --bench classify_stream`. Usage: PYTHON hermes_classify.py CORPUS.jsonl REPEATS

Each reply becomes the exception hermes-agent's OpenAI client would raise (status_code, body
parsed, message), and `agent.error_classifier.classify_api_error` is timed on it; the JSON
line and body parse are timed too, as keypool's figure includes them. Prints one JSON line.
"""
import json
import sys
import time

from agent.error_classifier import classify_api_error


class UpstreamError(Exception):
    def __init__(self, status, body_text):
        try:
            body = json.loads(body_text) if body_text.lstrip().startswith("{") else None
        except ValueError:
            body = None
        super().__init__(body_text[:500])
        self.status_code = status
        self.body = body if isinstance(body, dict) else None


def main():
    path, repeats = sys.argv[1], int(sys.argv[2])
    with open(path, encoding="utf-8") as f:
        lines = [l for l in f if l.strip()]
    start = time.perf_counter()
    n = 0
    for _ in range(repeats):
        for line in lines:
            r = json.loads(line)
            classify_api_error(UpstreamError(r["status"], r.get("body") or ""), provider="openai")
            n += 1
    secs = time.perf_counter() - start
    print(json.dumps({"lines": n, "us_per_line": secs * 1e6 / n}))


main()
