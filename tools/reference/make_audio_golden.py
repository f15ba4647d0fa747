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

  rope     thinker.model.get_rope_index on prompts built from the checkpoint's special ids: text,
           audio, image + audio, video (fractional seconds per grid), audio inside a video
           (use_audio_in_video) and two images; ids, media and positions go to rope/cases.json.

  thinker  Qwen3OmniMoeForConditionalGeneration(...).thinker (float32) on ChatML prompts with audio,
           tokenized by the checkpoint's tokenizer, each <|audio_pad|> repeated to the clip's
           token count and the features computed as Qwen3OmniMoeProcessor does:
             short:      0.7 s clip, then a question
             long:       9.3 s clip (two attention windows), then a question
             two_clips:  1.3 s and 0.45 s clips in one turn, text between them
             stereo_44k: a 44.1 kHz stereo 16-bit WAV (written here with `wave`; the C++ test
                         writes the same samples with libsndfile), resampled by OmniSage
                         (`omnisage audio --samples-out`, --omnisage) and fed to transformers
           Per prompt: the expanded ids, the argmax at every position, float32 logits of the last
           LAST positions, and 16 greedy tokens.

Writes OUT_DIR/<part>/meta.json and one float32 little-endian file per clip: mel [128, frames]
row-major, encoder [tokens, output_dim].

Usage: make_audio_golden.py --out tests/golden/audio --model DIR --omnisage BUILD/omnisage
"""
import argparse
import json
import os
import subprocess
import tempfile
import wave

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


def checkpoint_feature_extractor(path):
    """The checkpoint's preprocessor_config.json (written by synth) must give the same extractor."""
    fe = transformers.WhisperFeatureExtractor.from_pretrained(path)
    want = feature_extractor()
    for key in ("feature_size", "sampling_rate", "hop_length", "n_fft", "chunk_length",
                "n_samples", "dither", "padding_value", "return_attention_mask"):
        assert getattr(fe, key) == getattr(want, key), (key, getattr(fe, key), getattr(want, key))
    return fe


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
    fe = checkpoint_feature_extractor(model_dir)
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


def rope_cases(cfg):
    """Prompts as the processor lays them out (placeholders already expanded)."""
    vs, ve = cfg.vision_start_token_id, cfg.vision_end_token_id
    as_, ae = cfg.audio_start_token_id, cfg.audio_end_token_id
    img, vid, aud = cfg.image_token_id, cfg.video_token_id, cfg.audio_token_id
    merge = cfg.vision_config.spatial_merge_size
    pps = cfg.position_id_per_seconds
    n_window = cfg.audio_config.n_window

    def tokens(frames):
        return int(transformers.models.qwen3_omni_moe.modeling_qwen3_omni_moe
                   ._get_feat_extract_output_lengths(torch.tensor(frames), n_window))

    def text(k, seed):
        return [(seed * 37 + 11 * i) % 3000 + 5 for i in range(k)]

    def audio(frames):
        return [as_] + [aud] * tokens(frames) + [ae]

    def vision(pad, g):
        return [vs] + [pad] * (g[0] * g[1] * g[2] // merge ** 2) + [ve]

    def audio_in_video(g, spg, frames):
        # Qwen3OmniMoeProcessor.replace_video_with_audio_token's interleaving.
        n_audio = tokens(frames)
        hw = (g[1] // merge) * (g[2] // merge)
        vt = [t * spg * pps for t in range(g[0]) for _ in range(hw)]
        out, vi, ai = [vs, as_], 0, 0
        while vi < len(vt) and ai < n_audio:
            if vt[vi] <= ai:
                out.append(vid)
                vi += 1
            else:
                out.append(aud)
                ai += 1
        out += [vid] * (len(vt) - vi) + [aud] * (n_audio - ai) + [ae, ve]
        return out

    spg = 2 / 2.3  # temporal_patch_size / fps at 2.3 fps: fractional t positions
    return {
        "text": {"ids": text(10, 1)},
        "audio": {"ids": text(5, 2) + audio(130) + text(4, 3), "audio_frames": [130]},
        "image_audio": {"ids": text(3, 4) + vision(img, [1, 4, 6]) + text(2, 5) + audio(70)
                        + text(3, 6), "images": [[1, 4, 6]], "audio_frames": [70]},
        "video": {"ids": text(4, 7) + vision(vid, [3, 4, 4]) + text(5, 8), "videos": [[3, 4, 4]],
                  "video_seconds_per_grid": [spg]},
        "audio_in_video": {"ids": text(2, 9) + audio_in_video([4, 4, 4], 2.0, 230) + text(3, 10),
                           "videos": [[4, 4, 4]], "video_seconds_per_grid": [2.0],
                           "audio_frames": [230], "use_audio_in_video": True},
        "two_images": {"ids": text(2, 11) + vision(img, [1, 2, 4]) + vision(img, [2, 4, 2])
                       + text(3, 12), "images": [[1, 2, 4], [2, 4, 2]]},
    }


def write_rope(out_dir, model_dir):
    thinker = load_thinker(model_dir)
    cases = rope_cases(thinker.config)
    for name, c in cases.items():
        ids = torch.tensor([c["ids"]])
        grid = lambda k: torch.tensor(c[k]) if k in c else None
        pos, delta = thinker.model.get_rope_index(
            ids, image_grid_thw=grid("images"), video_grid_thw=grid("videos"),
            attention_mask=torch.ones_like(ids), use_audio_in_video=c.get("use_audio_in_video", False),
            audio_seqlens=grid("audio_frames"),
            second_per_grids=grid("video_seconds_per_grid"))
        c["positions"] = pos[:, 0, :].T.float().tolist()  # [n, 3]
        c["delta"] = float(delta.reshape(-1)[0])
        print(f"rope {name}: {len(c['ids'])} tokens, delta {c['delta']}")
    d = os.path.join(out_dir, "rope")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "cases.json"), "w") as fh:
        json.dump({"transformers": transformers.__version__, "cases": cases}, fh)


LAST = 6
GREEDY = 16
STEREO = {"rate": 44100, "frames": 35280, "seeds": [31, 32]}  # 0.8 s


def stereo_wav(path):
    """16-bit stereo at 44.1 kHz: left test_clip(31), right test_clip(32), as integers."""
    n = STEREO["frames"]
    left, right = (np.round(test_clip(s, n) * 32768).astype("<i2") for s in STEREO["seeds"])
    inter = np.empty(2 * n, dtype="<i2")
    inter[0::2], inter[1::2] = left, right
    with wave.open(path, "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(STEREO["rate"])
        w.writeframes(inter.tobytes())


def thinker_cases(omnisage):
    audio = "<|audio_start|><|audio_pad|><|audio_end|>"

    def chat(user):
        return f"<|im_start|>user\n{user}<|im_end|>\n<|im_start|>assistant\n"

    with tempfile.TemporaryDirectory() as tmp:
        wav, raw = os.path.join(tmp, "stereo.wav"), os.path.join(tmp, "stereo.f32")
        stereo_wav(wav)
        subprocess.run([omnisage, "audio", wav, "--samples-out", raw], check=True,
                       stdout=subprocess.DEVNULL)
        resampled = np.fromfile(raw, dtype="<f4")
    return {
        "short": {"text": chat(audio + "What is this sound?"), "clips": [(11, 11200)]},
        "long": {"text": chat(audio + "Describe it."), "clips": [(21, 148800)]},
        "two_clips": {"text": chat(audio + " and " + audio + " Which is longer?"),
                      "clips": [(12, 20800), (13, 7213)]},
        "stereo_44k": {"text": chat(audio + "Left or right?"), "clips": ["stereo"],
                       "samples": [resampled]},
    }


def write_thinker(out_dir, model_dir, omnisage):
    thinker = load_thinker(model_dir)
    tok = transformers.AutoTokenizer.from_pretrained(model_dir)
    fe = checkpoint_feature_extractor(model_dir)
    audio_id = thinker.config.audio_token_id
    n_window = thinker.config.audio_config.n_window
    d = os.path.join(out_dir, "thinker")
    os.makedirs(d, exist_ok=True)
    meta = {"transformers": transformers.__version__, "torch": torch.__version__,
            "model": "synth --preset tiny --seed 0", "dtype": "float32", "last": LAST,
            "stereo": STEREO, "cases": {}}
    for name, c in thinker_cases(omnisage).items():
        clips = c.get("samples") or [test_clip(seed, n) for seed, n in c["clips"]]
        feats = fe(clips, sampling_rate=16000, padding=True, truncation=False,
                   return_attention_mask=True, return_tensors="pt")
        # Qwen3OmniMoeProcessor.replace_audio_token: each pad becomes num_audio_tokens pads.
        counts = transformers.models.qwen3_omni_moe.processing_qwen3_omni_moe \
            ._get_feat_extract_output_lengths(feats["attention_mask"].sum(-1), n_window).tolist()
        ids, k = [], 0
        for t in tok(c["text"])["input_ids"]:
            if t == audio_id:
                ids += [audio_id] * counts[k]
                k += 1
            else:
                ids.append(t)
        assert k == len(clips)
        kwargs = {"input_features": feats["input_features"],
                  "feature_attention_mask": feats["attention_mask"]}
        with torch.no_grad():
            x = torch.tensor([ids])
            logits = thinker(input_ids=x, attention_mask=torch.ones_like(x), **kwargs).logits[0]
            greedy = list(ids)
            for _ in range(GREEDY):
                x = torch.tensor([greedy])
                out = thinker(input_ids=x, attention_mask=torch.ones_like(x), **kwargs).logits[0, -1]
                greedy.append(int(torch.argmax(out)))
        logits = logits.float().numpy()
        logits[-LAST:].astype("<f4").tofile(os.path.join(d, f"{name}.f32"))
        meta["cases"][name] = {
            "text": c["text"], "clips": [list(x) if not isinstance(x, str) else x
                                         for x in c["clips"]],
            "audio_tokens": counts, "ids": ids, "argmax": logits.argmax(-1).tolist(),
            "vocab": int(logits.shape[1]), "file": f"{name}.f32", "greedy": greedy[len(ids):]}
        print(f"thinker {name}: {len(ids)} tokens ({counts} audio), greedy {greedy[len(ids):]}")
    with open(os.path.join(d, "meta.json"), "w") as fh:
        json.dump(meta, fh)


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True)
    ap.add_argument("--model", help="omnisage synth --preset tiny --seed 0 checkpoint")
    ap.add_argument("--omnisage", help="the omnisage binary (resamples the stereo clip)")
    ap.add_argument("--parts", default="mel,encoder,rope,thinker")
    args = ap.parse_args()
    parts = args.parts.split(",")
    if "mel" in parts:
        write_mel(args.out)
    if "encoder" in parts:
        write_encoder(args.out, args.model)
    if "rope" in parts:
        write_rope(args.out, args.model)
    if "thinker" in parts:
        write_thinker(args.out, args.model, args.omnisage)


if __name__ == "__main__":
    main()
