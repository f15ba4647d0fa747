#!/usr/bin/env python3
"""Aggregate decode speed and expert bytes read per token of `omnisage serve` at 1, 2, 4, 8, ...
concurrent clients (docs/serve.md). Python 3's standard library only.

Starts the server itself (so each budget gets a fresh expert cache), then for each client count
sends that many chat requests at once (different prompts, ignore_eos, a fixed max_tokens) and
reads /metrics before and after: tokens generated, wall time, decode steps and the tokens they
carried (the mean batch), expert bytes read. Prints a markdown table.

  bench/serve/concurrency.py --omnisage build/tools/omnisage/omnisage --model /tmp/small \\
      --budgets unlimited,25% --clients 1,2,4,8 --max-tokens 32 --threads 2
"""
import argparse
import json
import re
import subprocess
import threading
import time
import urllib.request

PROMPTS = [
    "Tell me about the history of the printing press.",
    "What is the capital of France and why is it famous?",
    "Write a short poem about the sea at night.",
    "Explain how a mixture-of-experts model routes tokens.",
    "List five fruits and describe their colours.",
    "How does a refrigerator keep food cold?",
    "Describe a walk through a forest in autumn.",
    "What are the rules of chess for the knight?",
    "Summarise the plot of a detective story.",
    "Why is the sky blue during the day?",
    "Give three tips for learning a new language.",
    "What happens when water boils at high altitude?",
    "Describe the life cycle of a butterfly.",
    "How do trains stay on their tracks?",
    "Write a recipe for a simple tomato soup.",
    "What makes a good cup of coffee?",
]


def metrics(port):
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=30).read().decode()
    out = {}
    for line in text.splitlines():
        m = re.match(r"^(omnisage_[a-z_]+(?:\{[^}]*\})?) (\S+)$", line)
        if m:
            out[m.group(1)] = float(m.group(2))
    return out


def ask(port, prompt, max_tokens, results, i):
    body = json.dumps({"messages": [{"role": "user", "content": prompt}], "max_tokens": max_tokens,
                       "ignore_eos": True, "temperature": 0}).encode()
    req = urllib.request.Request(f"http://127.0.0.1:{port}/v1/chat/completions", body,
                                 {"Content-Type": "application/json"})
    results[i] = json.loads(urllib.request.urlopen(req, timeout=600).read())


def run_clients(port, n, max_tokens, offset):
    results = [None] * n
    threads = [threading.Thread(target=ask, args=(port, PROMPTS[(offset + i) % len(PROMPTS)],
                                                  max_tokens, results, i)) for i in range(n)]
    start = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.monotonic() - start, results


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--omnisage", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--budgets", default="unlimited,25%")
    ap.add_argument("--clients", default="1,2,4,8")
    ap.add_argument("--max-tokens", type=int, default=32)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    clients = [int(c) for c in args.clients.split(",")]
    rows = []
    for budget in args.budgets.split(","):
        cmd = [args.omnisage, "serve", "--model", args.model, "--port", "0", "--threads",
               str(args.threads), "--context", "512", "--max-batch", str(max(clients))]
        if budget != "unlimited":
            cmd += ["--budget", budget]
        server = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True)
        port = None
        for line in server.stderr:
            m = re.search(r"listening on http://127\.0\.0\.1:(\d+)", line)
            if m:
                port = int(m.group(1))
                break
        assert port, "the server did not start"
        run_clients(port, 1, 4, 0)  # warm-up: the first answer's cold misses are not measured
        for n in clients:
            before = metrics(port)
            wall, results = run_clients(port, n, args.max_tokens, n)
            after = metrics(port)
            d = {k: after.get(k, 0) - before.get(k, 0) for k in after}
            tokens = sum(r["usage"]["completion_tokens"] for r in results)
            steps = d.get("omnisage_decode_steps_total", 0)
            rows.append({
                "budget": budget, "clients": n, "tokens": tokens, "wall_s": wall,
                "tok_s": tokens / wall,
                "mean_batch": d.get("omnisage_decode_batch_tokens_total", 0) / steps if steps else 0,
                "bytes_per_token": d.get("omnisage_expert_bytes_read_total", 0) / tokens,
                # null when every expert is resident (no cache counters)
                "hit_rate": (d["omnisage_expert_cache_hits_total"] /
                             max(1, d["omnisage_expert_cache_hits_total"] +
                                 d["omnisage_expert_cache_misses_total"])
                             if "omnisage_expert_cache_hits_total" in d else None),
            })
            print(json.dumps(rows[-1]), flush=True)
        server.terminate()
        server.wait()
    print("\n| budget | clients | tokens | wall (s) | aggregate tok/s | x one client | mean batch | "
          "expert MiB read / token | hit rate |")
    print("|---|---|---|---|---|---|---|---|---|")
    base = {}
    for r in rows:
        base.setdefault(r["budget"], r["tok_s"])
        hit = "—" if r["hit_rate"] is None else f"{100 * r['hit_rate']:.0f}%"
        print(f"| {r['budget']} | {r['clients']} | {r['tokens']} | {r['wall_s']:.1f} | "
              f"{r['tok_s']:.1f} | {r['tok_s'] / base[r['budget']]:.2f} | {r['mean_batch']:.2f} | "
              f"{r['bytes_per_token'] / 2**20:.1f} | {hit} |")


if __name__ == "__main__":
    main()
