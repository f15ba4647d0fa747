#!/usr/bin/env python3
"""Smoke test of bench/compare/report.py: a small hand-made results file (every system, one
OmniSage budget failed, the disk-bound runs skipped and failed) must give markdown with the expected
tables under the marker, the header kept, and a well-formed SVG with both panels. Exit 0 on
success. Python 3's standard library only (run by ctest as bench_report_py)."""

import json
import os
import subprocess
import sys
import tempfile
import unittest
import xml.etree.ElementTree as ET

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
REPORT = os.path.join(ROOT, "bench", "compare", "report.py")
sys.path.insert(0, os.path.join(ROOT, "bench", "compare"))
import report  # noqa: E402

GIB = 1 << 30


def summary(m, lo, hi):
    return {"median": m, "min": lo, "max": hi}


def omnisage(budget, budget_bytes, decode, hit):
    return {
        "budget": budget, "status": "ok", "wall_s": 12.0, "child_peak_rss_bytes": int(2.5 * GIB),
        "result": {
            "budget_bytes": budget_bytes, "total_expert_bytes": int(4.5 * GIB), "load_s": 1.5,
            "load_peak_rss_bytes": int(1.4 * GIB), "peak_rss_bytes": int(2.5 * GIB),
            "prefill_tok_s": summary(200.0, 190.0, 210.0), "decode_tok_s": summary(decode, decode - 1, decode + 1),
            "ttft_s": summary(0.6, 0.55, 0.7),
            "cache_hit_rate": None if hit is None else summary(hit, hit - 0.01, hit + 0.01),
            "decode_bytes_read_per_token": None if hit is None else summary(2e8, 1.9e8, 2.1e8),
            "expert_load_ms": None if hit is None else summary(5.0, 4.0, 6.0),
            "expert_load_gb_s": None if hit is None else summary(1.9, 1.8, 2.0),
            "stall_s": None if hit is None else summary(1.2, 1.0, 1.3),
            "memory": {"expert_budget_bytes": budget_bytes or int(4.5 * GIB), "dense_bytes": int(1.3 * GIB),
                       "kv_cache_bytes": 1 << 20, "total_expert_bytes": int(4.5 * GIB)},
        },
    }


RESULTS = {
    "schema": 1, "started": "2026-11-22T10:00:00+00:00", "finished": "2026-11-22T10:40:00+00:00",
    "command": "compare.py --work /tmp/x",
    "settings": {"prompt_tokens": 128, "gen_tokens": 64, "repeat": 3, "warmup": 1, "threads": 2,
                 "budgets": ["unlimited", "50%", "25%"], "cgroup_budget": "25%", "drop_caches": True},
    "machine": {"cpu_model": "AMD EPYC Test", "logical_cpus": 2, "physical_cores": 2,
                "cpu_flags": ["avx2"], "mem_total_bytes": 24 * GIB, "swap_total_bytes": 0,
                "kernel": "6.1", "python": "3.11", "os": "Debian 12",
                "disk": {"block_device": "vda", "rotational": False, "fstype": "ext4", "mount": "/",
                         "size_bytes": 252 * GIB}},
    "checkpoint": {"path": "/tmp/x/small", "preset": "small", "model_type": "qwen3_moe",
                   "bytes": int(5.8 * GIB), "shards": 2, "parameters": 3114814464,
                   "expert_bytes": int(4.5 * GIB), "layers": 4, "experts": 128, "experts_per_token": 8,
                   "hidden_size": 2048, "vocab_size": 151936, "dtype": "bfloat16"},
    "gguf": {"path": "/tmp/x/small-bf16.gguf", "bytes": 6237701056},
    "disk_read": {"status": "ok", "file": "/tmp/x/small/model-00001.safetensors", "file_bytes": 3 * GIB,
                  "direct": {"status": "ok", "command": "dd if=a of=/dev/null bs=16M iflag=direct",
                             "bytes": 3 * GIB, "seconds": 2.0, "mb_s": 1610.6},
                  "buffered": {"status": "ok", "command": "dd if=a of=/dev/null bs=16M",
                               "bytes": 3 * GIB, "seconds": 1.5, "mb_s": 2147.5,
                               "page_cache": "dropped first"},
                  "concurrent_direct": {"status": "ok", "command": "io_read --model a", "best_mb_s": 2400.0,
                                        "passes": [{"threads": 1, "experts": 96, "seconds": 0.8, "gb_s": 1.2},
                                                   {"threads": 4, "experts": 96, "seconds": 0.4,
                                                    "gb_s": 2.4}]}},
    "omnisage": [omnisage("unlimited", None, 31.25, None), omnisage("50%", int(2.25 * GIB), 12.5, 0.6),
                 {"budget": "25%", "status": "failed", "reason": "exit code 1: omnisage: error: boom"}],
    "hf": {"status": "ok", "child_peak_rss_bytes": int(12.1 * GIB),
           "result": {"engine": "HF transformers 5.0", "load_s": 20.0, "load_peak_rss_bytes": int(11.6 * GIB),
                      "peak_rss_bytes": int(12.1 * GIB), "threads": 2,
                      "prefill_tok_s": summary(40.0, 39.0, 41.0), "decode_tok_s": summary(2.5, 2.4, 2.6),
                      "ttft_s": summary(3.2, 3.1, 3.3)}},
    "llamacpp": {"status": "ok", "child_peak_rss_bytes": int(6.37 * GIB),
                 "result": {"engine": "llama.cpp via llama-cpp-python 0.3.36", "load_s": 0.8,
                            "load_peak_rss_bytes": int(0.2 * GIB), "peak_rss_bytes": int(6.37 * GIB),
                            "prefill_tok_s": 127.7, "prefill_tok_s_all": [127.4, 109.2, 128.0],
                            "decode_tok_s": 21.5, "decode_tok_s_all": [19.0, 21.5, 22.8], "ttft_s": 1.0,
                            "all_reps_quiet": True}},
    "disk_bound": [{"limit": "25%", "limit_bytes": 1556925644,
                    "omnisage": {"status": "skipped", "reason": "no memory cgroup can be created here: test"},
                    "llamacpp": {"status": "failed", "reason": "killed by signal 9"},
                    "hf": {"status": "failed", "reason": "killed by signal 9 (HF)", "oom_kills": 1}}],
}


class ReportTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.TemporaryDirectory()
        self.results = os.path.join(self.dir.name, "results.json")
        with open(self.results, "w") as f:
            json.dump(RESULTS, f)
        self.doc = os.path.join(self.dir.name, "benchmarks.md")
        self.svg = os.path.join(self.dir.name, "benchmarks.svg")

    def tearDown(self):
        self.dir.cleanup()

    def run_report(self):
        p = subprocess.run([sys.executable, REPORT, self.results, "--doc", self.doc, "--svg", self.svg],
                           capture_output=True, text=True)
        self.assertEqual(p.returncode, 0, p.stderr)
        with open(self.doc) as f:
            return f.read()

    def test_markdown_keeps_header_and_has_tables(self):
        with open(self.doc, "w") as f:
            f.write("# My header\n\nHand-written text.\n\n" + report.MARKER + "\n\nnot yet run\n")
        md = self.run_report()
        self.assertTrue(md.startswith("# My header\n\nHand-written text.\n"))
        self.assertEqual(md.count(report.MARKER), 1)
        self.assertNotIn("not yet run", md)
        for heading in ("## Machine", "## Checkpoint", "## Page-cache regime: no memory limit",
                        "## Disk-bound regime: every system in the same memory cgroup, page cache dropped",
                        "## OmniSage (`omnisage bench`)",
                        "## HF transformers", "## llama.cpp (llama-cpp-python)", "## Disk read bandwidth"):
            self.assertIn(heading, md)
        self.assertIn("AMD EPYC Test", md)
        # combined table: load-time peak / model size, measured numbers, skipped and failed parts
        self.assertIn("| OmniSage | unlimited | 0.24× |", md)
        self.assertIn("| HF transformers | none (bf16, CPU) | 2.00× |", md)
        self.assertIn("| 25% | 1.45 GiB | OmniSage | — |", md)
        self.assertIn("skipped: no memory cgroup can be created here: test", md)
        self.assertIn("did not finish: killed by signal 9", md)
        # HF transformers runs inside the same limit too
        self.assertIn("| 25% | 1.45 GiB | HF transformers | — |", md)
        self.assertIn("did not finish: killed by signal 9 (HF)", md)
        self.assertIn("failed: exit code 1: omnisage: error: boom", md)
        # ratios of OmniSage's decode speed to the others
        self.assertIn("| unlimited | 31.25 | 1.45× | 12.50× |", md)
        self.assertIn("| 50% | 12.50 | 0.58× | 5.00× |", md)
        # expert loads against dd: 1.9 GB/s of 1610.6 MB/s
        self.assertIn("| page cache, budget 50% | cached | 1.90 | 5.00 (4.00–6.00) | 1.18 |", md)
        # the disk's concurrent O_DIRECT reads are listed, and the decode bound uses the best
        # measured throughput (2400 MB/s by 4 threads, above dd's 1610.6)
        self.assertIn("| O_DIRECT, 4 thread(s) reading experts at once | `io_read --model a` | 2400 |", md)
        self.assertIn("(2400 MB/s: one `dd` stream or several expert reads at once", md)
        self.assertIn("](benchmarks.svg)", md)
        # A second run rewrites only the generated part.
        self.assertEqual(self.run_report(), md)

    def test_default_header_without_marker(self):
        md = self.run_report()
        self.assertIn(report.MARKER, md)
        self.assertTrue(md.startswith("# "))

    def test_svg_is_well_formed_with_both_panels(self):
        self.run_report()
        root = ET.parse(self.svg).getroot()
        ns = "{http://www.w3.org/2000/svg}"
        self.assertEqual(root.tag, ns + "svg")
        self.assertTrue(float(root.get("width")) > 0 and float(root.get("height")) > 0)
        texts = [t.text or "" for t in root.iter(ns + "text")]
        joined = "\n".join(texts)
        self.assertIn("Peak memory while loading ÷ model size", joined)
        self.assertIn("Decode speed at each memory budget", joined)
        self.assertIn("decode tok/s (median)", joined)
        for label in ("OmniSage unlimited", "HF transformers", "llama.cpp", "2.00×", "31.2", "21.5"):
            self.assertIn(label, texts)
        bars = [r for r in root.iter(ns + "rect") if r.get("fill") not in ("#ffffff",)]
        self.assertGreaterEqual(len(bars), 8)
        for r in bars:
            self.assertGreaterEqual(float(r.get("width")), 0)
            self.assertGreaterEqual(float(r.get("height")), 0)


if __name__ == "__main__":
    unittest.main()
