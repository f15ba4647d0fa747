#!/usr/bin/env python3
"""OmniSage against HF transformers and llama.cpp on one checkpoint, one system at a time.

    compare.py --work DIR [--model DIR | --preset small] [--budgets unlimited,50%,25%,10%]
               [--prompt-tokens 128] [--gen-tokens 64] [--repeat 3] [--threads 2] ...

Steps (each a separate process, one at a time; progress lines on stderr, with elapsed time):

  checkpoint   `omnisage synth --preset P --arch qwen3_moe` into WORK unless --model is given;
               `omnisage inspect --json` for its facts
  dd           read bandwidth of the checkpoint's disk: the largest shard with dd, bs=16M,
               iflag=direct and buffered (page cache dropped first when root)
  omnisage     `omnisage bench --json --io cached` at each budget, no memory limit: the
               page-cache regime (the checkpoint's pages stay cached between reads)
  hf           HF transformers from_pretrained (bf16, CPU) (hf_bench.py), no memory limit
  llamacpp     llama.cpp through llama-cpp-python on the GGUF of the same weights, mmap, no
               limit (bench/llamacpp/to_gguf.py converts, bench/llamacpp/bench.py measures)
  cgroup       the disk-bound regime: at each --limits share of the checkpoint's bytes, OmniSage
               (`--io direct --memory LIMIT --embeddings disk`: the engine plans the limit; with
               --limit-mode budget, a budget = limit - dense - KV cache - measured overhead),
               llama.cpp (mmap) and HF transformers (when the hf step ran) each run inside a
               fresh memory cgroup of that limit, the page cache dropped before each; page
               cache counts against the limit for all (bench/budget_cgroup.sh's method)

Decoding is teacher-forced from --text (its first --prompt-tokens tokens are the prompt, each
decode step feeds the text's next token) in every system, so the routing follows real text
rather than a random-weight model's repetitive greedy output. Without --text: greedy, as before.

Every process's peak RSS is also taken from the kernel when it ends (wait4's ru_maxrss). The
results go to --out (JSON, rewritten after every step, so a failure keeps what was measured);
bench/compare/report.py turns them into docs/benchmarks.md and docs/benchmarks.svg. A step that
cannot run is recorded as skipped with the reason; nothing is estimated.

Needs only Python 3's standard library; HF and llama.cpp run in their own venvs (--ref-python,
--llama-python; bench/compare/run.sh prepares them).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import re
import shlex
import signal
import subprocess
import sys
import threading
import time

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
T0 = time.monotonic()


def elapsed() -> str:
    s = int(time.monotonic() - T0)
    return f"{s // 3600:d}:{s // 60 % 60:02d}:{s % 60:02d}"


def log(msg: str) -> None:
    print(f"[compare {elapsed()}] {msg}", file=sys.stderr, flush=True)


def now_iso() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


# --------------------------------------------------------------------------------------------
# child processes


class Child:
    def __init__(self, rc, stdout, peak_rss, wall_s, timed_out, stderr_tail, disk_read=None):
        self.rc, self.stdout, self.peak_rss_bytes = rc, stdout, peak_rss
        self.wall_s, self.timed_out, self.stderr_tail = wall_s, timed_out, stderr_tail
        self.disk_read_bytes = disk_read  # the kernel's ru_inblock × 512: read from the disk

    def json(self):
        try:
            return json.loads(self.stdout)
        except ValueError:
            return None

    def failure(self) -> str:
        if self.timed_out:
            return f"did not finish within its time limit ({self.wall_s:.0f} s); killed"
        if self.rc < 0:
            return f"killed by signal {-self.rc}" + (" (SIGKILL: OOM killer?)" if self.rc == -9 else "")
        tail = " | ".join(self.stderr_tail[-3:])
        return f"exit code {self.rc}" + (f": {tail}" if tail else "")


def run_child(cmd, label, timeout=None, cgroup_procs=None, heartbeat_s=60) -> Child:
    """Runs cmd, streaming its stderr as progress lines prefixed with `label`; returns its
    stdout, exit status (negative: signal), peak RSS from the kernel (ru_maxrss) and wall time.
    `cgroup_procs`: a cgroup.procs file the child joins before it execs."""
    log(f"{label}: {' '.join(shlex.quote(c) for c in cmd)}")

    def join_cgroup():
        if cgroup_procs:
            with open(cgroup_procs, "w") as f:
                f.write(str(os.getpid()))

    t0 = time.monotonic()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=REPO,
                         preexec_fn=join_cgroup if cgroup_procs else None,
                         start_new_session=True)
    out_chunks, tail = [], []
    last_line = [time.monotonic()]

    def read_out():
        for chunk in iter(lambda: p.stdout.read(65536), b""):
            out_chunks.append(chunk)

    def read_err():
        for raw in iter(p.stderr.readline, b""):
            line = raw.decode(errors="replace").rstrip()
            if not line:
                continue
            tail.append(line)
            del tail[:-20]
            last_line[0] = time.monotonic()
            print(f"[compare {elapsed()}]   {label} | {line}", file=sys.stderr, flush=True)

    threads = [threading.Thread(target=read_out, daemon=True),
               threading.Thread(target=read_err, daemon=True)]
    for t in threads:
        t.start()
    timed_out = False
    status, ru = None, None
    while True:
        pid, st, r = os.wait4(p.pid, os.WNOHANG)
        if pid == p.pid:
            status, ru = st, r
            break
        if timeout is not None and time.monotonic() - t0 > timeout and not timed_out:
            timed_out = True
            log(f"{label}: over its limit of {timeout:.0f} s; killing it")
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if time.monotonic() - last_line[0] > heartbeat_s:
            log(f"{label}: still running ({time.monotonic() - t0:.0f} s)")
            last_line[0] = time.monotonic()
        time.sleep(0.2)
    p.returncode = os.waitstatus_to_exitcode(status)
    for t in threads:
        t.join(timeout=10)
    p.stdout.close()
    p.stderr.close()
    wall = time.monotonic() - t0
    c = Child(p.returncode, b"".join(out_chunks).decode(errors="replace"), ru.ru_maxrss * 1024,
              wall, timed_out, tail, ru.ru_inblock * 512)
    log(f"{label}: {'done' if c.rc == 0 else 'FAILED: ' + c.failure()} in {wall:.1f} s, "
        f"peak RSS {c.peak_rss_bytes / 2**30:.2f} GiB")
    return c


# --------------------------------------------------------------------------------------------
# machine facts, page cache, disk


def machine_facts(path: str) -> dict:
    facts = {"kernel": platform.release(), "python": platform.python_version()}
    model, cores, flags = None, set(), []
    with open("/proc/cpuinfo") as f:
        phys = core = None
        for line in f:
            k, _, v = line.partition(":")
            k, v = k.strip(), v.strip()
            if k == "model name" and model is None:
                model = v
            elif k == "physical id":
                phys = v
            elif k == "core id":
                core = v
                cores.add((phys, core))
            elif k == "flags" and not flags:
                have = set(v.split())
                flags = [x for x in ("avx", "avx2", "fma", "f16c", "avx512f", "avx512_bf16",
                                     "avx_vnni", "amx_bf16", "hypervisor") if x in have]
    facts["cpu_model"] = model
    facts["logical_cpus"] = os.cpu_count()
    facts["physical_cores"] = len(cores) or None
    facts["cpu_flags"] = flags
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith(("MemTotal:", "SwapTotal:")):
                k, v = line.split(":")
                facts["mem_total_bytes" if k == "MemTotal" else "swap_total_bytes"] = \
                    int(v.split()[0]) * 1024
    try:
        with open("/etc/os-release") as f:
            for line in f:
                if line.startswith("PRETTY_NAME="):
                    facts["os"] = line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    facts["disk"] = disk_facts(path)
    return facts


def disk_facts(path: str) -> dict:
    """The block device and filesystem holding `path`, from /proc/self/mounts and /sys."""
    out = {"path": os.path.abspath(path)}
    best = ""
    with open("/proc/self/mounts") as f:
        for line in f:
            dev, mnt, fstype = line.split()[:3]
            if (os.path.abspath(path) + "/").startswith(mnt.rstrip("/") + "/") and len(mnt) >= len(best):
                best, out["mount"], out["device"], out["fstype"] = mnt, mnt, dev, fstype
    st = os.stat(path)
    sysdev = f"/sys/dev/block/{os.major(st.st_dev)}:{os.minor(st.st_dev)}"
    try:
        real = os.path.realpath(sysdev)
        name = os.path.basename(real)
        if os.path.exists(os.path.join(real, "partition")):
            name = os.path.basename(os.path.dirname(real))
        out["block_device"] = name
        q = f"/sys/block/{name}"

        def rd(rel):
            try:
                with open(os.path.join(q, rel)) as f:
                    return f.read().strip()
            except OSError:
                return None

        rot = rd("queue/rotational")
        out["rotational"] = None if rot is None else rot == "1"
        size = rd("size")
        out["size_bytes"] = int(size) * 512 if size else None
        out["model"] = rd("device/model")
        out["scheduler"] = rd("queue/scheduler")
    except OSError:
        pass
    return out


def can_drop_caches() -> bool:
    return os.geteuid() == 0 and os.access("/proc/sys/vm/drop_caches", os.W_OK)


def drop_caches(enabled: bool) -> bool:
    if not enabled:
        return False
    try:
        os.sync()
        with open("/proc/sys/vm/drop_caches", "w") as f:
            f.write("3\n")
        return True
    except OSError as e:
        log(f"could not drop the page cache: {e}")
        return False


DD_RE = re.compile(r"(\d+) bytes.*? copied, ([\d.]+(?:e[-+]?\d+)?) s")


def dd_read(path: str, direct: bool) -> dict:
    cmd = ["dd", f"if={path}", "of=/dev/null", "bs=16M"] + (["iflag=direct"] if direct else [])
    t0 = time.monotonic()
    p = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.monotonic() - t0
    if p.returncode != 0:
        return {"status": "failed", "reason": p.stderr.strip().splitlines()[-1] if p.stderr else
                f"dd exit code {p.returncode}", "command": " ".join(cmd)}
    m = DD_RE.search(p.stderr)
    nbytes, secs = (int(m.group(1)), float(m.group(2))) if m else (os.path.getsize(path), wall)
    return {"status": "ok", "command": " ".join(cmd), "bytes": nbytes, "seconds": secs,
            "mb_s": nbytes / secs / 1e6 if secs > 0 else None, "dd_says": p.stderr.strip().splitlines()[-1]}


IO_READ_ROW = re.compile(r"^\| direct \| (\d+) \| (\d+) \| [\d.]+ \| ([\d.]+) \| ([\d.]+) \|")


def concurrent_direct_reads(io_read: str, model: str, threads: str) -> dict:
    """Expert reads with O_DIRECT by 1..N threads at once (bench/io_read): the disk's throughput
    under the concurrency the engine's loads have, which one `dd` stream understates."""
    cmd = [io_read, "--model", model, "--experts", "96", "--threads", threads, "--modes", "direct"]
    if not os.path.exists(io_read):
        return {"status": "skipped", "reason": f"{io_read} is not built", "command": " ".join(cmd)}
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        return {"status": "failed", "reason": (p.stderr.strip().splitlines() or ["?"])[-1],
                "command": " ".join(cmd)}
    passes = [{"threads": int(m.group(1)), "experts": int(m.group(2)), "seconds": float(m.group(3)),
               "gb_s": float(m.group(4))}
              for m in (IO_READ_ROW.match(line) for line in p.stdout.splitlines()) if m]
    if not passes:
        return {"status": "failed", "reason": "no rows in io_read's output", "command": " ".join(cmd)}
    return {"status": "ok", "command": " ".join(cmd), "passes": passes,
            "best_mb_s": max(x["gb_s"] for x in passes) * 1e3}


# --------------------------------------------------------------------------------------------
# memory cgroup (bench/budget_cgroup.sh's method)


class Cgroup:
    """A fresh memory cgroup with a hard limit, v2 or v1; `procs` is its cgroup.procs."""

    def __init__(self, limit: int, parent: str | None):
        self.path = self.procs = self.peak_file = None
        self.version = None
        name = f"omnisage-compare-{os.getpid()}"
        if parent is None:
            if os.path.exists("/sys/fs/cgroup/cgroup.controllers") and \
                    "memory" in open("/sys/fs/cgroup/cgroup.controllers").read().split():
                parent = "/sys/fs/cgroup"
            elif os.path.isdir("/sys/fs/cgroup/memory"):
                parent = "/sys/fs/cgroup/memory"
            else:
                raise OSError("no memory cgroup hierarchy (neither v2 with the memory controller "
                              "nor v1's /sys/fs/cgroup/memory)")
        path = os.path.join(parent, name)
        os.mkdir(path)
        self.path = path
        if os.path.exists(os.path.join(path, "memory.max")):
            self.version = 2
            self._write("memory.max", limit)
            try:
                self._write("memory.swap.max", 0)
            except OSError:
                pass
            self.peak_file = "memory.peak"
        elif os.path.exists(os.path.join(path, "memory.limit_in_bytes")):
            self.version = 1
            self._write("memory.limit_in_bytes", limit)
            try:
                self._write("memory.memsw.limit_in_bytes", limit)
            except OSError:
                pass
            self.peak_file = "memory.max_usage_in_bytes"
        else:
            self.remove()
            raise OSError(f"{path} has no memory limit file (memory controller not enabled there)")
        self.procs = os.path.join(path, "cgroup.procs")

    def _write(self, rel, value):
        with open(os.path.join(self.path, rel), "w") as f:
            f.write(f"{value}\n")

    def read(self, rel):
        try:
            with open(os.path.join(self.path, rel)) as f:
                return f.read()
        except OSError:
            return None

    def peak(self):
        v = self.read(self.peak_file)
        return int(v) if v and v.strip().isdigit() else None

    def oom_kills(self):
        text = self.read("memory.events" if self.version == 2 else "memory.oom_control") or ""
        m = re.search(r"oom_kill (\d+)", text)
        return int(m.group(1)) if m else None

    def remove(self):
        if self.path:
            for _ in range(50):
                try:
                    os.rmdir(self.path)
                    return
                except OSError:
                    time.sleep(0.1)


# --------------------------------------------------------------------------------------------


def python_has(python: str, modules: str) -> str | None:
    """None when `python` imports `modules`, else why not."""
    if not python or not os.path.exists(python):
        return f"{python or 'no interpreter given'} does not exist"
    p = subprocess.run([python, "-c", f"import {modules}"], capture_output=True, text=True)
    if p.returncode != 0:
        last = (p.stderr.strip().splitlines() or ["?"])[-1]
        return f"{python} cannot import {modules}: {last}"
    return None


def checkpoint_bytes(model: str) -> tuple[int, list[str]]:
    shards = sorted(f for f in os.listdir(model) if f.endswith(".safetensors"))
    return sum(os.path.getsize(os.path.join(model, f)) for f in shards), shards


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", required=True, help="work directory (checkpoint, GGUF, logs)")
    ap.add_argument("--model", help="checkpoint directory (default: synth --preset into WORK)")
    ap.add_argument("--preset", default="small", help="synth preset when --model is not given (small)")
    ap.add_argument("--arch", default="qwen3_moe", help="synth --arch (qwen3_moe)")
    ap.add_argument("--omnisage", default=os.path.join(REPO, "build/tools/omnisage/omnisage"))
    ap.add_argument("--out", help="results JSON (default WORK/results.json)")
    ap.add_argument("--budgets", default="unlimited,50%,25%,10%")
    ap.add_argument("--prompt-tokens", type=int, default=128)
    ap.add_argument("--gen-tokens", type=int, default=64)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--systems", default="dd,omnisage,hf,llamacpp,cgroup",
                    help="which steps to run, comma-separated")
    ap.add_argument("--ref-python", default="/opt/ref-venv/bin/python", help="python with torch + transformers")
    ap.add_argument("--llama-python", default="/opt/llama-venv/bin/python",
                    help="python with llama_cpp, gguf, numpy")
    ap.add_argument("--skip-hf", metavar="REASON", help="record HF as skipped for this reason")
    ap.add_argument("--skip-llamacpp", metavar="REASON", help="record llama.cpp as skipped for this reason")
    ap.add_argument("--gguf", help="GGUF file (default WORK/<checkpoint name>-bf16.gguf, converted if absent)")
    ap.add_argument("--text", default=os.path.join(REPO, "bench/compare/text.txt"),
                    help="teacher-force this text (bench/compare/text.txt); '' decodes greedily")
    ap.add_argument("--limits", default="50%,25%,10%",
                    help="memory limits of the disk-bound runs, as shares of the checkpoint's bytes")
    ap.add_argument("--io", default="direct", help="OmniSage's --io in the disk-bound runs (direct)")
    ap.add_argument("--limit-mode", choices=["memory", "budget"], default="memory",
                    help="how OmniSage fits a limit: memory = --memory LIMIT --embeddings disk (the "
                         "engine's planner); budget = --budget sized from the unlimited run's memory")
    ap.add_argument("--overhead-margin-mib", type=int, default=64,
                    help="added to OmniSage's measured overhead when its budget is set from a limit")
    ap.add_argument("--cgroup-parent", help="create the cgroup here (default: the hierarchy's root, "
                    "like bench/budget_cgroup.sh)")
    ap.add_argument("--drop-caches", choices=("auto", "yes", "no"), default="auto",
                    help="sync + drop the page cache before dd and before each system (auto: when root)")
    ap.add_argument("--wait-idle", type=float, default=0, metavar="S",
                    help="passed to llama.cpp's bench.py: wait up to S s for a quiet machine per repetition")
    ap.add_argument("--timeout-omnisage", type=float, default=3600)
    ap.add_argument("--timeout-hf", type=float, default=3600)
    ap.add_argument("--timeout-llamacpp", type=float, default=1800)
    ap.add_argument("--timeout-cgroup", type=float, default=540,
                    help="seconds each disk-bound run may take (540: every run under 10 minutes)")
    args = ap.parse_args()
    if args.gen_tokens < 2:
        raise SystemExit("--gen-tokens must be at least 2 (one token from the prefill, the rest decoded)")
    systems = set(s.strip() for s in args.systems.split(",") if s.strip())
    budgets = [b.strip() for b in args.budgets.split(",") if b.strip()]
    limits = [b.strip() for b in args.limits.split(",") if b.strip()]
    os.makedirs(args.work, exist_ok=True)
    out_path = args.out or os.path.join(args.work, "results.json")
    drop = {"auto": can_drop_caches(), "yes": True, "no": False}[args.drop_caches]

    results: dict = {
        "schema": 1,
        "started": now_iso(),
        "command": " ".join(shlex.quote(a) for a in sys.argv),
        "settings": {"prompt_tokens": args.prompt_tokens, "gen_tokens": args.gen_tokens,
                     "repeat": args.repeat, "warmup": 1, "threads": args.threads,
                     "budgets": budgets, "limits": limits, "io": args.io,
                     "text": os.path.relpath(args.text, REPO) if args.text else None,
                     "overhead_margin_mib": args.overhead_margin_mib,
                     "drop_caches": drop, "systems": sorted(systems)},
    }

    def save():
        tmp = out_path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(results, f, indent=2)
        os.replace(tmp, out_path)

    def skipped(reason):
        log(f"skipped: {reason}")
        return {"status": "skipped", "reason": reason}

    def outcome(c, cmd):
        """A child's record: ok with its JSON result, or failed with the reason."""
        j = c.json() if c.rc == 0 else None
        r = {"status": "ok" if j else "failed", "command": " ".join(shlex.quote(x) for x in cmd),
             "wall_s": c.wall_s, "child_peak_rss_bytes": c.peak_rss_bytes,
             "disk_read_bytes": c.disk_read_bytes}
        if j:
            r["result"] = j
        else:
            r["reason"] = c.failure() if c.rc else "no JSON on stdout"
        return r

    # ---- checkpoint
    if not os.access(args.omnisage, os.X_OK):
        raise SystemExit(f"{args.omnisage} is not built (ninja -C build omnisage)")
    model = args.model
    if model is None:
        model = os.path.join(args.work, args.preset)
        if not os.path.exists(os.path.join(model, "config.json")):
            log(f"checkpoint: omnisage synth --preset {args.preset} --arch {args.arch} -> {model}")
            c = run_child([args.omnisage, "synth", "--preset", args.preset, "--arch", args.arch,
                           "--out", model], "synth")
            if c.rc != 0:
                raise SystemExit(f"synth failed: {c.failure()}")
        else:
            log(f"checkpoint: reusing {model}")
    model = os.path.abspath(model)
    size, shards = checkpoint_bytes(model)
    inspect = run_child([args.omnisage, "inspect", "--json", model], "inspect").json() or {}
    with open(os.path.join(model, "config.json")) as f:
        config = json.load(f)
    results["checkpoint"] = {
        "path": model, "preset": None if args.model else args.preset,
        "model_type": config.get("model_type"), "bytes": size, "shards": len(shards),
        "parameters": inspect.get("parameters"), "tensors": inspect.get("tensors"),
        "expert_bytes": inspect.get("expert_bytes"),
        "layers": config.get("num_hidden_layers"), "experts": config.get("num_experts"),
        "experts_per_token": config.get("num_experts_per_tok"), "hidden_size": config.get("hidden_size"),
        "vocab_size": config.get("vocab_size"), "dtype": config.get("torch_dtype") or config.get("dtype"),
    }
    results["machine"] = machine_facts(model)
    save()
    log(f"checkpoint {model}: {size / 2**30:.2f} GiB in {len(shards)} shard(s); "
        f"machine: {results['machine'].get('cpu_model')}, {results['machine'].get('logical_cpus')} CPUs, "
        f"{results['machine'].get('mem_total_bytes', 0) / 2**30:.1f} GiB")

    # ---- dd
    if "dd" in systems:
        largest = max(shards, key=lambda s: os.path.getsize(os.path.join(model, s)))
        shard = os.path.join(model, largest)
        log(f"dd: reading {largest} ({os.path.getsize(shard) / 2**30:.2f} GiB)")
        disk = {"status": "ok", "file": shard, "file_bytes": os.path.getsize(shard)}
        disk["direct"] = dd_read(shard, direct=True)
        disk["dropped_caches"] = drop_caches(drop)
        disk["buffered"] = dd_read(shard, direct=False)
        disk["buffered"]["page_cache"] = "dropped first" if disk["dropped_caches"] else \
            "not dropped (not root or --drop-caches no): may be served from memory"
        for k in ("direct", "buffered"):
            d = disk[k]
            log(f"dd {k}: " + (f"{d['mb_s']:.0f} MB/s" if d.get("mb_s") else d.get("reason", "?")))
        disk["concurrent_direct"] = concurrent_direct_reads(
            os.path.normpath(os.path.join(os.path.dirname(args.omnisage), "..", "..", "bench", "io_read")), model,
            "1,2,4,8")
        c = disk["concurrent_direct"]
        log("io_read direct: " + (", ".join(f"{x['threads']} threads {x['gb_s']:.2f} GB/s"
                                            for x in c["passes"]) if c.get("passes") else c.get("reason", "?")))
        results["disk_read"] = disk
    else:
        results["disk_read"] = skipped("not in --systems")
    save()

    # ---- OmniSage
    results["omnisage"] = []
    prompt_ids = forced_ids = None
    if "omnisage" in systems:
        for b in budgets:
            drop_caches(drop)
            cmd = [args.omnisage, "bench", "--model", model, "--prompt-tokens", str(args.prompt_tokens),
                   "--gen-tokens", str(args.gen_tokens), "--repeat", str(args.repeat),
                   "--threads", str(args.threads), "--json", "--io", "cached"] + \
                (["--text", args.text] if args.text else [])
            if b != "unlimited":
                cmd += ["--budget", b]
            log(f"omnisage: budget {b}")
            c = run_child(cmd, f"omnisage {b}", timeout=args.timeout_omnisage)
            entry = {"budget": b, "command": " ".join(shlex.quote(x) for x in cmd),
                     "wall_s": c.wall_s, "child_peak_rss_bytes": c.peak_rss_bytes,
                     "disk_read_bytes": c.disk_read_bytes}
            j = c.json() if c.rc == 0 else None
            if j is None:
                entry.update(status="failed", reason=c.failure() if c.rc else "no JSON on stdout")
            else:
                entry.update(status="ok", result=j)
                prompt_ids = prompt_ids or j.get("prompt_ids")
                forced_ids = forced_ids or j.get("forced_ids")
            results["omnisage"].append(entry)
            save()
    else:
        results["omnisage"] = [dict(budget=b, **skipped("not in --systems")) for b in budgets]
    ids_file = os.path.join(args.work, "prompt_ids.json")
    forced_file = os.path.join(args.work, "forced_ids.json")
    if prompt_ids:
        with open(ids_file, "w") as f:
            json.dump(prompt_ids, f)
        results["prompt_ids"] = prompt_ids
    if forced_ids:
        with open(forced_file, "w") as f:
            json.dump(forced_ids, f)
        results["forced_ids"] = forced_ids
    forced_args = ["--forced-ids", "@" + forced_file] if forced_ids else []
    save()
    no_ids = None if prompt_ids else "no prompt ids: no OmniSage run finished (HF and llama.cpp are fed its ids)"

    # ---- HF transformers
    hf_skip, hf_cmd = None, None
    if "hf" in systems:
        hf_skip = args.skip_hf or no_ids or python_has(args.ref_python, "torch, transformers, safetensors")
    if "hf" not in systems:
        results["hf"] = skipped("not in --systems")
    elif hf_skip:
        results["hf"] = skipped(hf_skip)
    else:
        drop_caches(drop)
        hf_cmd = [args.ref_python, os.path.join(REPO, "bench/compare/hf_bench.py"), model,
                  "--prompt-ids", "@" + ids_file, "--gen-tokens", str(args.gen_tokens),
                  "--repeat", str(args.repeat), "--threads", str(args.threads)] + forced_args
        log("hf: transformers from_pretrained (bf16, CPU) and greedy generation")
        results["hf"] = outcome(run_child(hf_cmd, "hf", timeout=args.timeout_hf), hf_cmd)
    save()

    # ---- llama.cpp
    want_llama = {"llamacpp", "cgroup"} & systems
    llama_skip = args.skip_llamacpp or no_ids or (python_has(args.llama_python, "llama_cpp, gguf, numpy")
                                                  if want_llama else None)
    gguf = args.gguf or os.path.join(args.work, os.path.basename(model.rstrip("/")) + "-bf16.gguf")
    if want_llama and not llama_skip and not os.path.exists(gguf):
        log(f"gguf: converting {model} -> {gguf}")
        c = run_child([args.llama_python, os.path.join(REPO, "bench/llamacpp/to_gguf.py"), model,
                       gguf + ".tmp"], "to_gguf")
        if c.rc != 0:
            llama_skip = f"GGUF conversion failed: {c.failure()}"
        else:
            os.replace(gguf + ".tmp", gguf)
    if not llama_skip and want_llama:
        results["gguf"] = {"path": gguf, "bytes": os.path.getsize(gguf)}
    llama_cmd = [args.llama_python, os.path.join(REPO, "bench/llamacpp/bench.py"), gguf,
                 "--prompt-ids", "@" + ids_file, "-m", str(args.gen_tokens - 1),
                 "-r", str(args.repeat), "-t", str(args.threads), "--no-bandwidth"] + forced_args
    if args.wait_idle > 0:
        llama_cmd += ["--wait-idle", str(args.wait_idle)]

    if "llamacpp" not in systems:
        results["llamacpp"] = skipped("not in --systems")
    elif llama_skip:
        results["llamacpp"] = skipped(llama_skip)
    else:
        drop_caches(drop)
        log("llamacpp: llama-cpp-python, mmap, no memory limit")
        results["llamacpp"] = outcome(
            run_child(llama_cmd, "llama.cpp", timeout=args.timeout_llamacpp), llama_cmd)
    save()

    results["disk_bound"] = []
    if "cgroup" not in systems:
        results["disk_bound"] = [dict(limit=l, **skipped("not in --systems")) for l in limits]
    else:
        for share in limits:
            results["disk_bound"].append(
                under_limit(args, results, model, share, llama_cmd, llama_skip, drop, forced_args,
                            hf_cmd, hf_skip or (None if "hf" in systems else "not in --systems")))
            save()
    results["finished"] = now_iso()
    save()
    log(f"results: {out_path}")
    return 0


def in_cgroup(limit, parent, cmd, label, timeout, drop) -> dict:
    """Runs cmd alone inside a fresh memory cgroup of `limit` bytes, the page cache dropped first."""
    try:
        cg = Cgroup(limit, parent)
    except OSError as e:
        return {"status": "skipped", "reason": f"no memory cgroup can be created here: {e}"}
    try:
        dropped = drop_caches(drop)
        log(f"{label}: cgroup v{cg.version} {cg.path}, limit {limit / 2**30:.2f} GiB")
        c = run_child(cmd, label, timeout=timeout, cgroup_procs=cg.procs)
        j = c.json() if c.rc == 0 else None
        entry = {"status": "ok" if j else "failed", "finished": j is not None,
                 "command": " ".join(shlex.quote(x) for x in cmd),
                 "cgroup": {"version": cg.version, "path": cg.path}, "page_cache_dropped": dropped,
                 "wall_s": c.wall_s, "child_peak_rss_bytes": c.peak_rss_bytes,
                 "disk_read_bytes": c.disk_read_bytes,
                 "cgroup_peak_bytes": cg.peak(), "oom_kills": cg.oom_kills()}
        if j:
            entry["result"] = j
        else:
            entry["reason"] = c.failure() if c.rc else "no JSON on stdout"
        return entry
    finally:
        cg.remove()


def under_limit(args, results, model, share, llama_cmd, llama_skip, drop, forced_args, hf_cmd,
                hf_skip) -> dict:
    """The disk-bound regime at one limit: OmniSage, llama.cpp and HF transformers, each alone in a
    fresh memory cgroup of `share` of the checkpoint's bytes, page cache dropped before each."""
    size = results["checkpoint"]["bytes"]
    limit = int(size * float(share.rstrip("%")) / 100) if share.endswith("%") else int(share)
    out = {"limit": share, "limit_bytes": limit}
    # OmniSage's budget: what the limit leaves after its dense weights, KV cache and the rest of
    # the process, all as measured by its unlimited (all experts resident) run.
    ref = next((e for e in results["omnisage"] if e.get("status") == "ok" and e["budget"] == "unlimited"), None)
    if args.limit_mode == "memory":
        # The engine plans the limit itself (docs/memory.md): --memory LIMIT with the token
        # embeddings read from the disk; a limit it cannot keep is refused, naming the minimum.
        cmd = [args.omnisage, "bench", "--model", model, "--prompt-tokens", str(args.prompt_tokens),
               "--gen-tokens", str(args.gen_tokens), "--repeat", str(args.repeat),
               "--threads", str(args.threads), "--json", "--io", args.io,
               "--memory", f"{limit}B", "--embeddings", "disk"] + (["--text", args.text] if args.text else [])
        entry = in_cgroup(limit, args.cgroup_parent, cmd, f"omnisage {share} limit", args.timeout_cgroup, drop)
        if entry.get("status") == "failed" and "below the minimum" in entry.get("reason", ""):
            entry = {"status": "skipped", "reason": entry["reason"], "command": entry.get("command")}
        out["omnisage"] = entry
    elif ref is None:
        out["omnisage"] = {"status": "skipped", "reason": "no unlimited OmniSage run to size the budget from"}
    else:
        mem = ref["result"]["memory"]
        dense, kv, experts = mem["dense_bytes"], mem["kv_cache_bytes"], mem["total_expert_bytes"]
        peak = ref["child_peak_rss_bytes"]
        overhead = max(0, peak - dense - kv - experts) + (args.overhead_margin_mib << 20)
        budget = limit - dense - kv - overhead
        parts = {"dense_bytes": dense, "kv_cache_bytes": kv, "overhead_bytes": overhead,
                 "overhead_from": f"the unlimited run's peak RSS - dense - experts - KV + "
                                  f"{args.overhead_margin_mib} MiB", "budget_bytes": budget}
        ck = results["checkpoint"]
        try:  # one token's experts in one layer: the smallest budget OmniSage accepts
            minimum = ck["expert_bytes"] // (ck["layers"] * ck["experts"]) * ck["experts_per_token"]
        except (KeyError, TypeError, ZeroDivisionError):
            minimum = 0
        if budget <= minimum:
            out["omnisage"] = {"status": "skipped", "parts": parts, "reason":
                               f"the limit ({limit / 2**30:.2f} GiB) is below OmniSage's dense weights "
                               f"{dense / 2**30:.2f} GiB + KV cache + overhead {overhead / 2**20:.0f} MiB + "
                               f"the smallest expert budget"}
        else:
            cmd = [args.omnisage, "bench", "--model", model, "--prompt-tokens", str(args.prompt_tokens),
                   "--gen-tokens", str(args.gen_tokens), "--repeat", str(args.repeat),
                   "--threads", str(args.threads), "--json", "--io", args.io,
                   "--budget", f"{budget}B"] + (["--text", args.text] if args.text else [])
            out["omnisage"] = in_cgroup(limit, args.cgroup_parent, cmd, f"omnisage {share} limit",
                                        args.timeout_cgroup, drop)
            out["omnisage"]["parts"] = parts
    if llama_skip:
        out["llamacpp"] = {"status": "skipped", "reason": llama_skip}
    else:
        # Under a limit the kernel reclaims and reads pages on llama.cpp's behalf (kswapd, block
        # I/O), which bench.py's quiet-machine check counts as other load: it discarded every
        # repetition and re-ran until the timeout. Keep every repetition here instead.
        limited = llama_cmd + ["--max-other", "1"]
        out["llamacpp"] = in_cgroup(limit, args.cgroup_parent, limited, f"llama.cpp {share} limit",
                                    args.timeout_cgroup, drop)
    if hf_skip or hf_cmd is None:
        out["hf"] = {"status": "skipped", "reason": hf_skip or "HF did not run without a limit"}
    else:  # from_pretrained holds every weight: below the model's size it is expected to fail
        out["hf"] = in_cgroup(limit, args.cgroup_parent, hf_cmd, f"hf {share} limit",
                              args.timeout_cgroup, drop)
    return out


if __name__ == "__main__":
    sys.exit(main())
