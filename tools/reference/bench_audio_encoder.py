#!/usr/bin/env python3
"""The audio path's speed in HF transformers on the CPU, for comparison with
bench/audio_encoder_bench (docs/audio.md): WhisperFeatureExtractor, then Qwen3OmniMoeAudioEncoder
built from a checkpoint's audio_config (random weights: the arithmetic is the same), float32 as
the golden fixtures, on N threads. Prints one JSON object with medians of R runs.

Usage: bench_audio_encoder.py --model DIR [--seconds 5] [--threads 2] [--repeats 3]
"""
import argparse
import json
import math
import time

import numpy as np
import torch
import transformers
from transformers.models.qwen3_omni_moe import configuration_qwen3_omni_moe as conf
from transformers.models.qwen3_omni_moe import modeling_qwen3_omni_moe as modeling


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True)
    ap.add_argument("--seconds", type=float, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    with open(f"{args.model}/config.json") as f:
        audio_config = json.load(f)["thinker_config"]["audio_config"]
    config = conf.Qwen3OmniMoeAudioEncoderConfig(**audio_config)
    torch.manual_seed(0)
    encoder = modeling.Qwen3OmniMoeAudioEncoder._from_config(config, dtype=torch.float32).eval()
    n = int(args.seconds * 16000)
    t = np.arange(n) / 16000
    clip = (0.3 * np.sin(2 * math.pi * 440 * t)).astype(np.float32)
    fe = transformers.WhisperFeatureExtractor(
        feature_size=128, sampling_rate=16000, hop_length=160, chunk_length=300, n_fft=400,
        padding_value=0.0, dither=0.0, return_attention_mask=True)
    mel_s, enc_s = [], []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        out = fe([clip], sampling_rate=16000, padding=True, truncation=False,
                 return_attention_mask=True, return_tensors="pt")
        t1 = time.perf_counter()
        frames = int(out["attention_mask"].sum())
        with torch.no_grad():
            emb = encoder(input_features=out["input_features"][0, :, :frames],
                          feature_lens=torch.tensor([frames])).last_hidden_state
        t2 = time.perf_counter()
        mel_s.append(t1 - t0)
        enc_s.append(t2 - t1)
    m, e = float(np.median(mel_s)), float(np.median(enc_s))
    print(json.dumps({"transformers": transformers.__version__, "torch": torch.__version__,
                      "audio_seconds": args.seconds, "threads": args.threads,
                      "repeats": args.repeats, "mel_frames": frames, "tokens": emb.shape[0],
                      "dtype": "float32", "mel_s": round(m, 4), "encoder_s": round(e, 4),
                      "compute_s_per_audio_s": round((m + e) / args.seconds, 4)}))


if __name__ == "__main__":
    main()
