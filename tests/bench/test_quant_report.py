#!/usr/bin/env python3
"""Smoke test of bench/quant/report.py (and, where numpy imports, bench/quant/kl.py): a hand-made
work directory of bench/quant/accuracy.sh and speed.sh (two stores, one extraction that failed,
two GGUFs, budgets with one failed run, runs inside one memory limit with one killed) must give
tables with the right rows, the bits per weight, perplexities and ratios computed from the
files, and the failure's reason. Exit 0 on success (run by ctest as bench_quant_report_py, and
as bench_quant_kl_py with a numpy venv)."""

import json
import math
import os
import subprocess
import sys
import tempfile
import unittest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
REPORT = os.path.join(ROOT, "bench", "quant", "report.py")
sys.path.insert(0, os.path.join(ROOT, "bench", "quant"))
import report  # noqa: E402

try:
    import numpy as np
except ImportError:  # the report's tests need only the standard library
    np = None

MIB = 1 << 20


def write(path, obj):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        if isinstance(obj, str):
            f.write(obj)
        else:
            json.dump(obj, f)


def manifest(fmt, expert_bytes, dense_bytes, rounding=None):
    q = {} if fmt == "bf16" else {"quantization": {"experts": {"format": fmt}}}
    if rounding:
        q["quantization"]["experts"]["rounding"] = rounding
    return dict(q, files=[
        {"path": "dense/text.safetensors", "kind": "dense", "tensors": [{"bytes": dense_bytes}]},
        {"path": "experts/text/layer_00/expert_000.safetensors", "kind": "expert",
         "tensors": [{"bytes": expert_bytes // 2}, {"bytes": expert_bytes - expert_bytes // 2}]},
        {"path": "config.json", "kind": "extra", "tensors": []},
    ])


def kl(ref, test, mean, top1, nll_ref, nll_test):
    return {"positions": 100, "mean_kl": mean, "median_kl": mean / 2, "p99_kl": mean * 5,
            "max_kl": mean * 9, "top1": top1, "ref_flat_share": 0.5, "nll_ref": nll_ref,
            "nll_test": nll_test, "ref": f"/w/logits/{ref}.f32", "test": f"/w/logits/{test}.f32"}


def make_work(d):
    model = os.path.join(d, "model")
    write(os.path.join(model, "model.safetensors"), "x" * 1000)
    write(os.path.join(d, "run.json"), {
        "model": model, "text": "bench/compare/text.txt", "threads": 2, "cpu_model": "AMD EPYC Test",
        "logical_cpus": 2, "started": "2026-12-06T22:00:00+00:00", "finished": "2026-12-06T22:10:00+00:00",
        "load_start": [3.5, 3.0, 2.5], "load_end": [4.0, 3.2, 2.6],
        "command": "bench/quant/accuracy.sh model text.txt /w 100"})
    write(os.path.join(d, "ids.json"), list(range(100)))
    # 1,000,000 expert weights: int8 store 1,004,000 bytes -> 8.03 bits per weight
    write(os.path.join(d, "stores", "int8", "manifest.json"), manifest("int8", 1_004_000, 2 * MIB))
    write(os.path.join(d, "stores", "int4-g32", "manifest.json"),
          manifest("int4", 656_250, 2 * MIB, "search"))
    # a store whose manifest does not say: written by min–max rounding, the only one then
    write(os.path.join(d, "stores", "int4-g32-minmax", "manifest.json"), manifest("int4", 656_250, 2 * MIB))
    write(os.path.join(d, "kl", "omnisage-int4-g32-minmax.json"),
          kl("omnisage-bf16", "omnisage-int4-g32-minmax", 4e-3, 0.94, 2.0, 2.02))
    write(os.path.join(d, "stores", "int4-g128.error"),
          "extract: down_proj: group 128 does not divide 64\n")
    write(os.path.join(d, "gguf", "BF16.json"), {
        "file_bytes": 3 * MIB, "tensor_bytes": 3 * MIB, "expert_bytes": 2_000_000,
        "expert_weights": 1_000_000, "expert_bits_per_weight": 16.0,
        "roles": {"experts": {"types": {"BF16": 12}}, "norms": {"types": {"F32": 20}}}})
    write(os.path.join(d, "gguf", "Q4_K_M.json"), {
        "file_bytes": MIB, "tensor_bytes": MIB, "expert_bytes": 600_000, "expert_weights": 1_000_000,
        "expert_bits_per_weight": 4.8,
        "roles": {"experts": {"types": {"Q4_K": 9, "Q6_K": 3}}, "attention": {"types": {"Q4_K": 16}}}})
    write(os.path.join(d, "gguf", "Q4_K_M-experts.json"), {
        "file_bytes": 2 * MIB, "tensor_bytes": 2 * MIB, "expert_bytes": 600_000, "expert_weights": 1_000_000,
        "expert_bits_per_weight": 4.8,
        "roles": {"experts": {"types": {"Q4_K": 9, "Q6_K": 3}}, "attention": {"types": {"BF16": 16}}}})
    write(os.path.join(d, "kl", "llamacpp-Q4_K_M-experts.json"),
          kl("llamacpp-BF16", "llamacpp-Q4_K_M-experts", 2e-3, 0.96, 2.5, 2.51))
    write(os.path.join(d, "kl", "omnisage-int8.json"), kl("omnisage-bf16", "omnisage-int8", 1.5e-5, 0.99, 2.0, 2.0001))
    write(os.path.join(d, "kl", "omnisage-int4-g32.json"), kl("omnisage-bf16", "omnisage-int4-g32", 3e-3, 0.95, 2.0, 2.01))
    write(os.path.join(d, "kl", "llamacpp-BF16.json"), kl("omnisage-bf16", "llamacpp-BF16", 2e-6, 1.0, 2.0, 2.0))
    write(os.path.join(d, "kl", "llamacpp-Q4_K_M.json"), kl("llamacpp-BF16", "llamacpp-Q4_K_M", 5e-3, 0.93, 2.5, 2.52))

    sp = os.path.join(d, "speed")
    write(os.path.join(sp, "run.json"), {"model": model, "text": "t.txt", "prompt_tokens": 128,
                                         "gen_tokens": 32, "repeat": 2, "threads": 2,
                                         "cpu_model": "AMD EPYC Test", "logical_cpus": 2,
                                         "started": "2026-12-06T22:20:00+00:00",
                                         "command": "bench/quant/speed.sh model t.txt /w"})

    def s(v):
        return {"median": v, "min": v - 1, "max": v + 1}

    def om(decode, budget_bytes=None, read=None, hit=None):
        return {"budget_bytes": budget_bytes, "total_expert_bytes": 400 * MIB, "prefill_tok_s": s(70.0),
                "decode_tok_s": s(decode), "decode_bytes_read_per_token": None if read is None else s(read),
                "cache_hit_rate": None if hit is None else s(hit)}

    write(os.path.join(sp, "omnisage-bf16-unlimited.json"), om(10.0))
    write(os.path.join(sp, "omnisage-bf16-unlimited.load"), "before 3.10 2.00 1.00\nafter 3.40 2.10 1.00\n")
    write(os.path.join(sp, "omnisage-bf16-25.json"), om(4.0, 100 * MIB, 50 * MIB, 0.6))
    write(os.path.join(sp, "omnisage-int4-g128-unlimited.json"), om(15.0))
    write(os.path.join(sp, "omnisage-int4-g128-25.json"), om(8.0, 30 * MIB, 12 * MIB, 0.65))
    write(os.path.join(sp, "omnisage-int4-g128-10.json"), "not json")
    write(os.path.join(sp, "llamacpp-BF16.json"), {"prefill_tok_s": 90.0, "decode_tok_s": 8.0,
                                                   "model_bytes": 3 * MIB, "all_reps_quiet": True,
                                                   "bytes_per_decoded_token": {"weights_per_token": 3 * MIB}})
    write(os.path.join(sp, "llamacpp-Q4_K_M.json"), {"prefill_tok_s": 80.0, "decode_tok_s": 12.0,
                                                     "model_bytes": MIB, "all_reps_quiet": False,
                                                     "bytes_per_decoded_token": {"weights_per_token": MIB}})
    # inside one memory limit (LIMITS): OmniSage int8 ran, llama.cpp Q8_0 ran, Q4_K_M was killed
    cg = "cgroup: limit 262144 bytes (0.00 GiB), peak {} bytes (0.00 GiB, page cache included), limit reached: 0 , exit {}\n"
    write(os.path.join(sp, "limit25-omnisage-int8.json"), om(8.0, 100 * MIB, 20 * MIB, 0.7))
    write(os.path.join(sp, "limit25-omnisage-int8.err"), "bench: loading\n" + cg.format(200 * 1024, 0))
    write(os.path.join(sp, "limit25-llamacpp-Q8_0.json"), {"prefill_tok_s": 30.0, "decode_tok_s": 2.0})
    write(os.path.join(sp, "limit25-llamacpp-Q8_0.err"), cg.format(256 * 1024, 0))
    write(os.path.join(sp, "limit25-llamacpp-Q4_K_M.err"),
          "error: llama_model_load: out of memory\n" + cg.format(256 * 1024, 137))


def row_of(text, *cells):
    """The table line whose leading cells are `cells`."""
    prefix = "| " + " | ".join(cells) + " |"
    found = [line for line in text.splitlines() if line.startswith(prefix)]
    assert len(found) == 1, f"{prefix!r}: {len(found)} lines in\n{text}"
    return [c.strip() for c in found[0].strip("|").split("|")]


class ReportTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        make_work(self.tmp.name)

    def tearDown(self):
        self.tmp.cleanup()

    def test_accuracy(self):
        out = subprocess.run([sys.executable, REPORT, "accuracy", self.tmp.name], capture_output=True,
                             text=True, check=True).stdout
        self.assertIn("load average start 3.50 3.00 2.50, end 4.00 3.20 2.60", out)
        self.assertIn("(100 tokens, teacher-forced)", out)
        ref = row_of(out, "OmniSage", "bf16 (the checkpoint)")
        self.assertEqual(ref[9], f"{math.exp(2.0):.2f}")
        int8 = row_of(out, "OmniSage", "int8")
        self.assertEqual(int8[2], "8.03")  # 8 × 1,004,000 / 1,000,000
        self.assertEqual(int8[3], "3.0 MiB")  # dense + expert tensor bytes, extra files left out
        self.assertEqual(int8[5:9], ["1.50e-05", "7.50e-05", "1.35e-04", "99.0%"])
        self.assertEqual(int8[10], "+0.0001")
        g32 = row_of(out, "OmniSage", "int4 g32, search")
        self.assertEqual(g32[2], "5.25")
        self.assertEqual(g32[5], "3.00e-03")
        g32_minmax = row_of(out, "OmniSage", "int4 g32, minmax")
        self.assertEqual(g32_minmax[5], "4.00e-03")
        g128 = row_of(out, "OmniSage", "int4 g128")
        self.assertIn("group 128 does not divide 64", g128[5])
        # int8 before int4 g128 before int4 g32
        self.assertLess(out.index("| OmniSage | int8"), out.index("| OmniSage | int4 g128"))
        self.assertLess(out.index("| OmniSage | int4 g128"), out.index("| OmniSage | int4 g32, minmax"))
        self.assertLess(out.index("| OmniSage | int4 g32, minmax"), out.index("| OmniSage | int4 g32, search"))
        bf = row_of(out, "llama.cpp", "BF16")
        self.assertEqual(bf[4], "OmniSage bf16")
        q4 = row_of(out, "llama.cpp", "Q4_K_M")
        self.assertEqual(q4[2], "4.80")
        self.assertEqual(q4[4], "llama.cpp BF16")
        self.assertEqual(q4[9], f"{math.exp(2.52):.2f}")
        types = row_of(out, "Q4_K_M", "Q4_K ×9, Q6_K ×3")
        self.assertEqual(types[2], "Q4_K ×16")
        self.assertEqual(types[3], "—")
        mixed = row_of(out, "llama.cpp", "Q4_K_M, experts only")
        self.assertEqual(mixed[3], "2.0 MiB")
        self.assertEqual(mixed[5], "2.00e-03")
        self.assertEqual(row_of(out, "Q4_K_M, experts only", "Q4_K ×9, Q6_K ×3")[2], "BF16 ×16")

    def test_speed(self):
        out = report.speed(self.tmp.name)
        self.assertIn("128 prompt tokens, 32 generated", out)
        base = row_of(out, "OmniSage", "bf16", "unlimited")
        self.assertEqual(base[4], "70.0 (69.0–71.0)")
        self.assertEqual(base[6], "1.00×")
        self.assertEqual(base[7], "1.25×")  # 10 / llama.cpp BF16's 8
        self.assertEqual(base[8], "0 (resident)")
        self.assertEqual(base[10], "3.10 → 3.40")
        q = row_of(out, "OmniSage", "int4 g128", "25%")
        self.assertEqual(q[3], "30.0 MiB")
        self.assertEqual(q[6], "2.00×")  # 8 / bf16 at 25%'s 4
        self.assertEqual(q[7], "0.67×")  # 8 / Q4_K_M's 12
        self.assertEqual(q[8], "12.0")
        self.assertEqual(q[9], "65.0%")
        failed = row_of(out, "OmniSage", "int4 g128", "10%")
        self.assertEqual(failed[3], "failed")
        # unlimited before 25% before 10%
        self.assertLess(out.index("| int4 g128 | unlimited"), out.index("| int4 g128 | 25%"))
        self.assertLess(out.index("| int4 g128 | 25%"), out.index("| int4 g128 | 10%"))
        lq = row_of(out, "llama.cpp", "Q4_K_M")
        self.assertIn("other load", lq[5])
        self.assertEqual(lq[6], "1.50×")
        self.assertIn("1.0 of weights touched", lq[8])


    def test_limits(self):
        out = report.limits(self.tmp.name)
        self.assertIn("Inside one memory limit", out)
        om = [c.strip() for c in next(l for l in out.splitlines() if "| OmniSage | int8 |" in l).strip("|").split("|")]
        self.assertTrue(om[0].startswith("25%"), om)
        self.assertEqual(om[3], "3.0 MiB")       # the store's weight bytes
        self.assertEqual(om[4], "0.2 MiB")        # the cgroup's peak, from its stderr
        self.assertEqual(om[6], "8.00 (7.00–9.00)")
        self.assertEqual(om[7], "4.00×")          # 8 / llama.cpp Q8_0's 2 in the same limit
        self.assertEqual(om[8], "20.0")
        self.assertEqual(om[9], "70.0%")
        failed = next(l for l in out.splitlines() if "| llama.cpp | Q4_K_M |" in l)
        self.assertIn("did not run: error: llama_model_load: out of memory", failed)
        # OmniSage's rows first, then llama.cpp's
        self.assertLess(out.index("| OmniSage |"), out.index("| llama.cpp | Q4_K_M |"))
        self.assertEqual(report.limits(tempfile.mkdtemp()), "")


@unittest.skipIf(np is None, "numpy is not installed")
class KlTest(unittest.TestCase):
    def test_compare(self):
        import kl
        rng = np.random.default_rng(0)
        ref = rng.normal(size=(5, 7)).astype(np.float32)
        same = kl.compare(ref, ref.copy(), ids=[1, 2, 3, 4, 5])
        self.assertEqual(same["mean_kl"], 0.0)
        self.assertEqual(same["top1"], 1.0)
        test = ref.copy()
        test[2] = ref[2] + np.arange(7)  # one row moved: its KL by hand, the argmax may change
        got = kl.compare(ref, test, ids=[1, 2, 3, 4, 5], chunk=2)
        p = np.exp(ref[2] - np.log(np.exp(ref[2].astype(np.float64)).sum()))
        q = np.exp(test[2] - np.log(np.exp(test[2].astype(np.float64)).sum()))
        self.assertAlmostEqual(got["mean_kl"], float((p * np.log(p / q)).sum()) / 5, places=9)
        self.assertAlmostEqual(got["max_kl"], float((p * np.log(p / q)).sum()), places=9)
        agree = 4 + (int(np.argmax(ref[2])) == int(np.argmax(test[2])))
        self.assertEqual(got["top1"], agree / 5)
        # NLL of the next id: rows 0..3 predict ids 1..4
        lr = ref.astype(np.float64) - np.log(np.exp(ref.astype(np.float64)).sum(axis=1, keepdims=True))
        self.assertAlmostEqual(got["nll_ref"], float(-np.mean([lr[t, t + 2] for t in range(4)])), places=9)
        with self.assertRaises(ValueError):
            kl.compare(ref, ref[:4])


if __name__ == "__main__":
    unittest.main()
