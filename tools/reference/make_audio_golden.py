#!/usr/bin/env python3
"""Golden fixtures for the audio path, produced by HF transformers.

  mel      log-mel features from transformers' WhisperFeatureExtractor with Qwen3-Omni's settings
           (preprocessor_config.json, spec §1.6) and the processor's audio call arguments
           (padding=True, truncation=False, return_attention_mask=True), for clips made by
           audio_clips.test_clip (bit-identical in the C++ tests):
             single: one 0.7 s clip alone
             batch:  a 1.3 s and a 0.45 s clip (7213 samples, not a multiple of the hop) in one call,
                     padded to the longest as the processor does

  encoder  the thinker's audio tower (Qwen3OmniMoeForConditionalGeneration(...).thinker, float32) on
           the features of those clips, for a checkpoint written by
           `omnisage synth --preset tiny --seed 0` (--model):
             short:  0.7 s alone (9 tokens, one partial chunk)
             long:   9.3 s alone (121 tokens: two attention windows of 104 + 17)
             pair:   1.3 s and 0.45 s in one prompt (chunks padded to 100 together)

Writes OUT_DIR/<part>/meta.json and one float32 little-endian file per clip: mel [128, frames]
row-major, encoder [tokens, output_dim].

Usage: make_audio_golden.py --out tests/golden/audio [--model DIR]
"""
import argparse
import json
import os

import numpy as np
import torch
import transformers

from audio_clips import test_clip

ENCODER_CASES = {
    "short": [(11, 11200)],
    "long": [(21, 148800)],
    "pair": [(12, 20800), (13, 7213)],
}

MEL_CASES = {
    "single": [(11, 11200)],
    "batch": [(12, 20800), (13, 7213)],
}


def feature_extractor():
    # preprocessor_config.json of Qwen/Qwen3-Omni-30B-A3B-Instruct (spec §1.6).
    return transformers.WhisperFeatureExtractor(
        feature_size=128, sampling_rate=16000, hop_length=160, chunk_length=300, n_fft=400,
        padding_value=0.0, dither=0.0, return_attention_mask=True)


def features(fe, clips):
    """The processor's call: returns [(features [128, frames]) per clip]."""
    out = fe(clips, sampling_rate=16000, padding=True, truncation=False,
             return_attention_mask=True, return_tensors="np")
    feats, mask = out["input_features"], out["attention_mask"]
    return [feats[i, :, : int(mask[i].sum())].astype(np.float32) for i in range(len(clips))]


def write_mel(out_dir):
    fe = feature_extractor()
    d = os.path.join(out_dir, "mel")
    os.makedirs(d, exist_ok=True)
    meta = {"transformers": transformers.__version__, "torch": torch.__version__, "cases": {}}
    for case, specs in MEL_CASES.items():
        clips = [test_clip(seed, n) for seed, n in specs]
        entries = []
        for k, ((seed, n), f) in enumerate(zip(specs, features(fe, clips))):
            name = f"{case}_{k}.f32"
            f.astype("<f4").tofile(os.path.join(d, name))
            entries.append({"seed": seed, "samples": n, "bins": f.shape[0], "frames": f.shape[1],
                            "file": name})
        meta["cases"][case] = entries
        print(f"mel {case}: {[(e['samples'], e['frames']) for e in entries]}")
    with open(os.path.join(d, "meta.json"), "w") as fh:
        json.dump(meta, fh, indent=1)


def load_thinker(path):
    model = transformers.Qwen3OmniMoeForConditionalGeneration.from_pretrained(
        path, dtype=torch.float32)
    return model.thinker.eval()


def audio_embeddings(thinker, fe, clips):
    """The thinker's audio features for the clips of one prompt, as its forward computes them."""
    out = fe(clips, sampling_rate=16000, padding=True, truncation=False,
             return_attention_mask=True, return_tensors="pt")
    with torch.no_grad():
        emb = thinker.get_audio_features(out["input_features"],
                                         feature_attention_mask=out["attention_mask"])
    return emb.last_hidden_state.float().numpy(), out["attention_mask"].sum(-1).tolist()


def write_encoder(out_dir, model_dir):
    thinker = load_thinker(model_dir)
    fe = feature_extractor()
    d = os.path.join(out_dir, "encoder")
    os.makedirs(d, exist_ok=True)
    meta = {"transformers": transformers.__version__, "torch": torch.__version__,
            "model": "synth --preset tiny --seed 0", "dtype": "float32", "cases": {}}
    for case, specs in ENCODER_CASES.items():
        emb, frames = audio_embeddings(thinker, fe, [test_clip(seed, n) for seed, n in specs])
        name = f"{case}.f32"
        emb.astype("<f4").tofile(os.path.join(d, name))
        meta["cases"][case] = {"clips": [{"seed": s, "samples": n, "frames": int(f)}
                                         for (s, n), f in zip(specs, frames)],
                               "shape": list(emb.shape), "file": name}
        print(f"encoder {case}: frames {frames} -> {list(emb.shape)}")
    with open(os.path.join(d, "meta.json"), "w") as fh:
        json.dump(meta, fh, indent=1)


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True)
    ap.add_argument("--model", help="omnisage synth --preset tiny --seed 0 checkpoint")
    ap.add_argument("--parts", default="mel,encoder")
    args = ap.parse_args()
    parts = args.parts.split(",")
    if "mel" in parts:
        write_mel(args.out)
    if "encoder" in parts:
        write_encoder(args.out, args.model)


if __name__ == "__main__":
    main()
