#!/usr/bin/env python3
"""Text inference speed of llama.cpp (through llama-cpp-python) on a GGUF model, on the CPU.

    python3 bench/llamacpp/bench.py MODEL.gguf [--prompt-tokens 128] [--gen-tokens 64]
                                    [--reps 3] [--threads 2] [--seed 0] [--no-mmap]

One repetition: clear the KV cache, decode N random prompt tokens as ONE batch (one
llama_decode call, n_batch = n_ubatch >= N: the prefill), take the greedy (argmax) token, then
decode M single tokens, each from the previous one's argmax (end-of-text is not a stop: the
weights may be random). A warm-up repetition runs first and is reported apart ("cold"): it pays
for the page faults of the memory-mapped weights. The JSON on stdout has the medians over the
timed repetitions; human-readable notes go to stderr.

Other load on the machine skews every number: each repetition records the share of the CPUs
that other processes (and hypervisor steal) used while it ran (`other_cpu_share`, from
/proc/stat); a repetition over `--max-other` (5%) is discarded and run again, up to
`--max-attempts`, and `--wait-idle S` waits up to S seconds for the machine to go quiet before
each measurement.

It also measures this machine's streaming-read memory bandwidth (numpy reductions over a 1 GiB
array, 1 and `--threads` threads) and divides it by the bytes of weights one decoded token
reads (dense weights + the active experts of each layer + the whole lm_head + the KV cache) to
give the memory-bandwidth bound of decode, and decode tok/s as a fraction of it.

Needs llama-cpp-python, gguf and numpy.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import platform
import resource
import statistics
import sys
import threading
import time

import numpy as np


def log(*a):
    print(*a, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------------
# machine facts


def cpu_facts() -> dict:
    model, flags = "unknown", set()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name") and model == "unknown":
                    model = line.split(":", 1)[1].strip()
                elif line.startswith("flags") and not flags:
                    flags = set(line.split(":", 1)[1].split())
    except OSError:
        pass
    wanted = ["avx", "avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512vl", "avx512_bf16",
              "avx512_vnni", "avx_vnni", "amx_bf16", "amx_int8"]
    mem = 0
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    mem = int(line.split()[1]) * 1024
    except OSError:
        pass
    return {"cpu_model": model, "cpu_flags": [w for w in wanted if w in flags],
            "logical_cpus": os.cpu_count(), "mem_total_bytes": mem,
            "kernel": platform.release(), "python": platform.python_version()}


def measure_read_bandwidth(nbytes: int = 1 << 30, threads: int = 2, reps: int = 5) -> dict:
    """Streaming-read bandwidth, bytes/s: the best pass of numpy reductions (OR over uint64, sum
    over float64, max over float32: each vectorised, so memory-bound here) over a freshly written
    `nbytes` array, far larger than any cache, with 1 and with `threads` threads (numpy releases
    the GIL inside reductions; each thread reduces its own contiguous slice)."""
    a = np.ones(nbytes // 8, dtype=np.uint64)  # written once: the pages are real, not the zero page
    kernels = {
        "or_u64": (np.bitwise_or.reduce, a),
        "sum_f64": (np.add.reduce, a.view(np.float64)),
        "max_f32": (np.maximum.reduce, a.view(np.float32)),
    }

    def one_pass(fn, slices) -> float:
        def work(k):
            fn(slices[k])

        ts = [threading.Thread(target=work, args=(k,)) for k in range(len(slices))]
        t0 = time.perf_counter()
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        return time.perf_counter() - t0

    result: dict = {"array_bytes": int(a.nbytes), "passes": {}}
    for n in sorted({1, threads}):
        for kname, (fn, arr) in kernels.items():
            slices = np.array_split(arr, n)
            one_pass(fn, slices)  # warm
            best = min(one_pass(fn, slices) for _ in range(reps))
            result["passes"][f"{kname}_{n}t"] = a.nbytes / best
        result[f"read_bytes_per_s_{n}t"] = max(v for k, v in result["passes"].items() if k.endswith(f"_{n}t"))
    # also a plain copy (read + write), for reference
    b = np.empty_like(a)
    np.copyto(b, a)
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        np.copyto(b, a)
        best = min(best, time.perf_counter() - t0)
    result["copy_bytes_per_s_1t"] = 2 * a.nbytes / best  # bytes read + bytes written
    del a, b
    result["read_bytes_per_s"] = max(v for k, v in result.items() if k.startswith("read_bytes_per_s_"))
    return result


# --------------------------------------------------------------------------------------------
# what one decoded token reads


def decode_bytes_per_token(path: str, ctx_len: float) -> dict:
    """Bytes of weights one decode step reads, from the GGUF's tensor table: every dense tensor
    in full, one row of token_embd, n_used/n_expert of every stacked expert tensor, the whole
    output (lm_head) matrix, plus the KV cache (f16) up to `ctx_len` positions."""
    from gguf import GGUFReader

    r = GGUFReader(path)

    def field(key, default=None):
        f = r.fields.get(key)
        return f.contents() if f is not None else default

    arch = field("general.architecture")
    n_expert = int(field(f"{arch}.expert_count", 0) or 0)
    n_used = int(field(f"{arch}.expert_used_count", 0) or 0)
    n_layer = int(field(f"{arch}.block_count"))
    n_embd = int(field(f"{arch}.embedding_length"))
    n_head_kv = int(field(f"{arch}.attention.head_count_kv"))
    head_dim = int(field(f"{arch}.attention.key_length"))
    token_types = field("tokenizer.ggml.token_type", [])

    dense = experts_all = experts_active = lm_head = embd_row = total = 0
    for t in r.tensors:
        nb = int(t.n_bytes)
        total += nb
        if t.name == "token_embd.weight":
            embd_row = nb // int(t.shape[1])  # ggml ne = {n_embd, n_vocab}: one row
        elif t.name == "output.weight":
            lm_head = nb
        elif "_exps." in t.name:
            experts_all += nb
            experts_active += nb * n_used // n_expert
        else:
            dense += nb
    if lm_head == 0:  # tied embeddings: the output projection reads all of token_embd
        lm_head = next(int(t.n_bytes) for t in r.tensors if t.name == "token_embd.weight")
    kv = int(2 * n_layer * n_head_kv * head_dim * 2 * ctx_len)  # K and V, f16
    weights = dense + experts_active + lm_head + embd_row
    return {
        "arch": arch, "n_layer": n_layer, "n_embd": n_embd, "n_expert": n_expert,
        "n_expert_used": n_used, "tensor_bytes": total, "dense_bytes": dense,
        "expert_bytes_all": experts_all, "expert_bytes_active": experts_active,
        "lm_head_bytes": lm_head, "embd_row_bytes": embd_row, "kv_bytes_avg": kv,
        "weights_per_token": weights, "per_token": weights + kv,
        "normal_token_ids": [i for i, ty in enumerate(token_types) if int(ty) == 1],
    }


# --------------------------------------------------------------------------------------------
# other load on the machine: CPU time used by every other process while we measure


class CpuWatch:
    """Share of the machine's CPU time that other processes used between start() and stop():
    busy jiffies from /proc/stat minus this process's own CPU time, over wall time x CPUs.
    0 means the machine was ours; 0.5 on 2 cores means one core's worth went elsewhere."""

    def __init__(self):
        self.hz = os.sysconf("SC_CLK_TCK")
        self.ncpu = os.cpu_count() or 1

    @staticmethod
    def _busy() -> int:
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
        # user nice system idle iowait irq softirq steal ...
        return sum(v[:8]) - v[3] - v[4]

    def start(self):
        t = os.times()
        self.t0, self.own0, self.busy0 = time.perf_counter(), t.user + t.system, self._busy()
        return self

    def stop(self) -> float:
        t = os.times()
        wall = time.perf_counter() - self.t0
        own = t.user + t.system - self.own0
        busy = (self._busy() - self.busy0) / self.hz
        return max(0.0, (busy - own) / (wall * self.ncpu)) if wall > 0 else 0.0


def wait_for_idle(max_wait_s: float, threshold: float = 0.05, window_s: float = 3.0) -> float:
    """Wait (up to max_wait_s) until other processes use less than `threshold` of the CPUs over a
    `window_s` window; returns the last window's share."""
    deadline = time.time() + max_wait_s
    while True:
        w = CpuWatch().start()
        time.sleep(window_s)
        share = w.stop()
        if share < threshold or time.time() >= deadline:
            return share
        log(f"machine busy: other processes use {share:.0%} of the CPUs; waiting")


# --------------------------------------------------------------------------------------------
# memory of this process


def proc_status() -> dict:
    out = {}
    try:
        with open("/proc/self/status") as f:
            for line in f:
                k, _, v = line.partition(":")
                if k in ("VmHWM", "VmRSS", "RssAnon", "RssFile", "RssShmem"):
                    out[k] = int(v.split()[0]) * 1024
    except OSError:
        pass
    return out


# --------------------------------------------------------------------------------------------


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model", help="GGUF file")
    ap.add_argument("--prompt-tokens", "-n", type=int, default=128, help="prefill length N (128)")
    ap.add_argument("--gen-tokens", "-m", type=int, default=64, help="decoded tokens M (64)")
    ap.add_argument("--reps", "-r", type=int, default=3, help="timed repetitions R (3)")
    ap.add_argument("--threads", "-t", type=int, default=2, help="n_threads and n_threads_batch (2)")
    ap.add_argument("--seed", type=int, default=0, help="seed of the random prompt (0)")
    ap.add_argument("--prompt-ids", metavar="IDS",
                    help="the prompt's token ids instead of random ones: comma-separated, or @FILE "
                         "holding them (a JSON array or comma/space-separated); sets N")
    ap.add_argument("--forced-ids", metavar="IDS",
                    help="teacher forcing: decode step i feeds id i of this list (ids or @file, at "
                         "least -m of them) instead of the argmax")
    ap.add_argument("--no-mmap", action="store_true", help="read the weights into memory instead")
    ap.add_argument("--flash-attn", action="store_true", help="enable flash attention")
    ap.add_argument("--no-bandwidth", action="store_true", help="skip the bandwidth measurement")
    ap.add_argument("--bandwidth-bytes", type=int, default=1 << 30, help="array size (1 GiB)")
    ap.add_argument("--wait-idle", type=float, default=0.0, metavar="S",
                    help="before each measurement, wait up to S seconds for other load to drop below --max-other")
    ap.add_argument("--max-other", type=float, default=0.05, metavar="F",
                    help="a repetition during which other load used more than this share of the CPUs "
                         "is discarded and run again (0.05)")
    ap.add_argument("--max-attempts", type=int, default=0,
                    help="give up re-running discarded repetitions after this many in all (default 4 x reps)")
    ap.add_argument("--verbose", action="store_true", help="llama.cpp's log and perf prints on stderr")
    args = ap.parse_args()

    import llama_cpp
    from llama_cpp import Llama

    N, M = args.prompt_tokens, args.gen_tokens
    given_ids = None
    if args.prompt_ids:
        text = args.prompt_ids
        if text.startswith("@"):
            with open(text[1:]) as f:
                text = f.read()
        given_ids = [int(x) for x in text.replace("[", " ").replace("]", " ").replace(",", " ").split()]
        if not given_ids:
            raise SystemExit("--prompt-ids: no token ids")
        N = len(given_ids)
    forced = None
    if args.forced_ids:
        text = args.forced_ids
        if text.startswith("@"):
            with open(text[1:]) as f:
                text = f.read()
        forced = [int(x) for x in text.replace("[", " ").replace("]", " ").replace(",", " ").split()]
        if len(forced) < M:
            raise SystemExit(f"--forced-ids: {len(forced)} ids, fewer than -m {M}")
    facts = cpu_facts()
    # Bandwidth first, before the model's pages are resident, and freed before loading.
    bw = None
    for _ in range(0 if args.no_bandwidth else 3):
        if args.wait_idle > 0:
            wait_for_idle(args.wait_idle, args.max_other)
        w = CpuWatch().start()
        b = measure_read_bandwidth(args.bandwidth_bytes, args.threads)
        b["other_cpu_share"] = w.stop()
        if bw is None or b["read_bytes_per_s"] > bw["read_bytes_per_s"]:
            bw = b
        if b["other_cpu_share"] <= args.max_other:
            break
        log(f"bandwidth pass disturbed (other load {b['other_cpu_share']:.0%}); again")
    if bw:
        log(f"streaming read: {bw['read_bytes_per_s'] / 1e9:.2f} GB/s "
            f"(1 thread {bw['read_bytes_per_s_1t'] / 1e9:.2f} GB/s)")

    touched = decode_bytes_per_token(args.model, ctx_len=N + M / 2)
    normal_ids = np.array(touched.pop("normal_token_ids") or [0], dtype=np.int64)
    rng = np.random.default_rng(args.seed)
    prompt = given_ids or [int(x) for x in rng.choice(normal_ids, size=N)]

    t_load0 = time.perf_counter()
    llm = Llama(
        model_path=args.model, n_gpu_layers=0, use_mmap=not args.no_mmap,
        n_ctx=N + M + 8, n_batch=max(N, 512), n_ubatch=max(N, 512),
        n_threads=args.threads, n_threads_batch=args.threads,
        flash_attn=args.flash_attn, verbose=args.verbose,
    )
    load_s = time.perf_counter() - t_load0
    load_status = proc_status()  # VmHWM right after the constructor: the peak while loading
    ctx = llm._ctx.ctx
    n_vocab = llm.n_vocab()
    mem = llama_cpp.llama_get_memory(ctx)
    log(f"loaded {args.model} in {load_s:.2f} s; n_vocab {n_vocab}, n_ctx {llm.n_ctx()}")

    def argmax_last() -> int:
        ptr = llama_cpp.llama_get_logits_ith(ctx, -1)
        return int(np.argmax(np.ctypeslib.as_array(ptr, shape=(n_vocab,))))

    def decode(tokens: list[int]) -> None:
        arr = (llama_cpp.llama_token * len(tokens))(*tokens)
        rc = llama_cpp.llama_decode(ctx, llama_cpp.llama_batch_get_one(arr, len(tokens)))
        if rc != 0:
            raise SystemExit(f"llama_decode returned {rc}")

    def one_rep() -> dict:
        if args.wait_idle > 0:
            wait_for_idle(args.wait_idle, args.max_other)
        watch = CpuWatch().start()
        llama_cpp.llama_memory_clear(mem, True)
        llama_cpp.llama_perf_context_reset(ctx)
        t0 = time.perf_counter()
        decode(prompt)  # the whole prompt as one batch
        tok = argmax_last()
        t1 = time.perf_counter()
        out = [tok]
        for i in range(M):
            decode([forced[i] if forced is not None else tok])
            tok = argmax_last()
            out.append(tok)
        t2 = time.perf_counter()
        other = watch.stop()
        perf = llama_cpp.llama_perf_context(ctx)
        if args.verbose:
            llama_cpp.llama_perf_context_print(ctx)
        return {
            "prefill_s": t1 - t0, "decode_s": t2 - t1, "ttft_s": t1 - t0,
            "prefill_tok_s": N / (t1 - t0), "decode_tok_s": M / (t2 - t1),
            "perf_prefill_tok_s": perf.n_p_eval * 1e3 / perf.t_p_eval_ms if perf.t_p_eval_ms else None,
            "perf_decode_tok_s": perf.n_eval * 1e3 / perf.t_eval_ms if perf.t_eval_ms else None,
            "perf_n_p_eval": perf.n_p_eval, "perf_n_eval": perf.n_eval,
            "perf_t_p_eval_ms": perf.t_p_eval_ms, "perf_t_eval_ms": perf.t_eval_ms,
            "other_cpu_share": other,
            "tokens": out,
        }

    cold = one_rep()
    log(f"cold: prefill {cold['prefill_tok_s']:.1f} tok/s, decode {cold['decode_tok_s']:.2f} tok/s")
    reps, discarded = [], []
    max_attempts = args.max_attempts or 4 * args.reps
    for i in range(max_attempts):
        if len(reps) == args.reps:
            break
        r = one_rep()
        clean = r["other_cpu_share"] <= args.max_other
        (reps if clean else discarded).append(r)
        log(f"rep {i + 1}: prefill {r['prefill_tok_s']:.1f} tok/s, decode {r['decode_tok_s']:.2f} tok/s, "
            f"ttft {r['ttft_s'] * 1e3:.0f} ms, other load {r['other_cpu_share']:.0%} of the CPUs"
            + ("" if clean else " (discarded)"))
    all_clean = len(reps) == args.reps
    if not all_clean:
        log(f"only {len(reps)} of {args.reps} repetitions ran on a quiet machine; "
            "the medians include disturbed ones")
        reps = reps + sorted(discarded, key=lambda r: r["other_cpu_share"])[: args.reps - len(reps)]
    if any(r["tokens"] != cold["tokens"] for r in reps):
        log("note: greedy outputs differ between repetitions")

    def med(key):
        vals = [r[key] for r in reps if r[key] is not None]
        return statistics.median(vals) if vals else None

    status = proc_status()
    peak_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    decode_tok_s = med("decode_tok_s")
    result = {
        "engine": "llama.cpp via llama-cpp-python " + getattr(llama_cpp, "__version__", "?"),
        "model": os.path.abspath(args.model),
        "model_bytes": os.path.getsize(args.model),
        "n_threads": args.threads,
        "use_mmap": not args.no_mmap,
        "flash_attn": args.flash_attn,
        "prompt_tokens": N, "gen_tokens": M, "reps": args.reps, "teacher_forced": forced is not None,
        "prefill_tok_s": med("prefill_tok_s"),
        "decode_tok_s": decode_tok_s,
        "ttft_s": med("ttft_s"),
        "prefill_tok_s_all": [r["prefill_tok_s"] for r in reps],
        "decode_tok_s_all": [r["decode_tok_s"] for r in reps],
        "other_cpu_share_all": [r["other_cpu_share"] for r in reps],
        "all_reps_quiet": all_clean,
        "max_other": args.max_other,
        "discarded": [{k: r[k] for k in ("prefill_tok_s", "decode_tok_s", "other_cpu_share")}
                      for r in discarded],
        "cold": {k: cold[k] for k in ("prefill_tok_s", "decode_tok_s", "ttft_s", "other_cpu_share")},
        "llama_perf": {
            "prefill_tok_s": med("perf_prefill_tok_s"), "decode_tok_s": med("perf_decode_tok_s"),
            "n_p_eval": reps[-1]["perf_n_p_eval"] if reps else None,
            "n_eval": reps[-1]["perf_n_eval"] if reps else None,
            "t_p_eval_ms": med("perf_t_p_eval_ms"), "t_eval_ms": med("perf_t_eval_ms"),
        },
        "load_s": load_s,
        "load_peak_rss_bytes": load_status.get("VmHWM"),
        "peak_rss_bytes": peak_rss,
        "rss_end": status,
        "bytes_per_decoded_token": touched,
        "machine": facts,
        "llama_system_info": llama_cpp.llama_print_system_info().decode(errors="replace").strip(),
        "first_tokens": cold["tokens"][:8],
    }
    if bw:
        bound = bw["read_bytes_per_s"] / touched["per_token"]
        result["bandwidth"] = bw
        result["decode_bound_tok_s"] = bound
        result["decode_fraction_of_bound"] = decode_tok_s / bound if decode_tok_s else None
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
