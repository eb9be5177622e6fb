"""Time to first token and tokens/s of a running mimo-server (stdlib only), for
docs/performance.md: N streamed chat completions one after another, then C at once.

    python3 tools/server/measure.py --port 8080 --requests 5 --concurrent 8 --max-tokens 128
"""
import argparse
import http.client
import json
import statistics
import threading
import time

MODEL = ["default"]  # the served model's id, read from /v1/models


def served_model(port):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("GET", "/v1/models")
    model = json.loads(conn.getresponse().read())["data"][0]["id"]
    conn.close()
    return model


def stream_one(port, prompt, max_tokens, temperature):
    body = json.dumps({"model": MODEL[0], "stream": True, "max_tokens": max_tokens,
                       "temperature": temperature,
                       "stream_options": {"include_usage": True},
                       "messages": [{"role": "user", "content": prompt}]})
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
    start = time.perf_counter()
    conn.request("POST", "/v1/chat/completions", body, {"Content-Type": "application/json"})
    resp = conn.getresponse()
    if resp.status != 200:
        raise RuntimeError(f"status {resp.status}: {resp.read()[:300]!r}")
    first, tokens, usage = None, 0, None
    for raw in resp:
        line = raw.decode().strip()
        if not line.startswith("data: ") or line == "data: [DONE]":
            continue
        chunk = json.loads(line[6:])
        if chunk.get("usage"):
            usage = chunk["usage"]
        for choice in chunk.get("choices", []):
            if choice.get("delta", {}).get("content") and first is None:
                first = time.perf_counter() - start
    total = time.perf_counter() - start
    conn.close()
    tokens = usage["completion_tokens"] if usage else 0
    return first, total, tokens, usage


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=8080)
    ap.add_argument("--requests", type=int, default=5)
    ap.add_argument("--concurrent", type=int, default=8)
    ap.add_argument("--max-tokens", type=int, default=128)
    ap.add_argument("--temperature", type=float, default=0.0)
    ap.add_argument("--prompt", default="def quicksort(items):")
    a = ap.parse_args()
    MODEL[0] = served_model(a.port)
    stream_one(a.port, a.prompt, 8, a.temperature)  # warm-up
    runs = [stream_one(a.port, a.prompt, a.max_tokens, a.temperature) for _ in range(a.requests)]
    ttft = statistics.median(r[0] for r in runs)
    rate = statistics.median(r[2] / (r[1] - r[0]) for r in runs if r[2] > 1)
    print(f"single client: time to first token {ttft * 1e3:.1f} ms (median of {len(runs)}), "
          f"{rate:.0f} tokens/s after it; usage {json.dumps(runs[-1][3])}")
    results = []
    def worker():
        results.append(stream_one(a.port, a.prompt, a.max_tokens, a.temperature))
    threads = [threading.Thread(target=worker) for _ in range(a.concurrent)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - start
    total = sum(r[2] for r in results)
    print(f"{a.concurrent} concurrent clients: {total} tokens in {wall:.2f} s = "
          f"{total / wall:.0f} tokens/s in all, time to first token median "
          f"{statistics.median(r[0] for r in results) * 1e3:.1f} ms")


if __name__ == "__main__":
    main()
