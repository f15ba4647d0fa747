#!/usr/bin/env python3
"""The video (or image) path's speed in HF transformers on the CPU, for comparison with
bench/video_encoder_bench (docs/vision.md): Qwen3OmniMoeProcessor's video processing
(Qwen2VLVideoProcessor: torchcodec decoding, fps sampling, torchvision resize, patchify) at the
processor's video size bounds — or, with --image, load_image and the checkpoint's image processor
(Qwen2VLImageProcessorPil) — then Qwen3OmniMoeVisionEncoder built from a checkpoint's
vision_config (random weights: the arithmetic is the same), float32, on N threads. Prints one JSON
object with medians of R runs.

Usage: bench_video_encoder.py --model DIR (--video FILE [--fps 2] | --image FILE) [--threads 2]
                              [--repeats 3]
"""
import argparse
import json
import time

import numpy as np
import torch
import transformers
from transformers import AutoVideoProcessor
from transformers.models.qwen3_omni_moe import configuration_qwen3_omni_moe as conf
from transformers.models.qwen3_omni_moe import modeling_qwen3_omni_moe as modeling
from transformers.models.qwen3_omni_moe.processing_qwen3_omni_moe import Qwen3OmniMoeProcessor


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True)
    group = ap.add_mutually_exclusive_group(required=True)
    group.add_argument("--video")
    group.add_argument("--image")
    ap.add_argument("--fps", type=float, default=2.0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    with open(f"{args.model}/config.json") as f:
        vision_config = json.load(f)["thinker_config"]["vision_config"]
    config = conf.Qwen3OmniMoeVisionEncoderConfig(**vision_config)
    torch.manual_seed(0)
    encoder = modeling.Qwen3OmniMoeVisionEncoder._from_config(config, dtype=torch.float32).eval()
    if args.image:
        from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import \
            Qwen2VLImageProcessorPil
        ip = Qwen2VLImageProcessorPil.from_pretrained(args.model)
        proc_s, enc_s = [], []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            img = transformers.image_utils.load_image(args.image)
            out = ip(images=[img], return_tensors="pt")
            t1 = time.perf_counter()
            with torch.no_grad():
                encoder(out["pixel_values"], grid_thw=out["image_grid_thw"])
            t2 = time.perf_counter()
            proc_s.append(t1 - t0)
            enc_s.append(t2 - t1)
        print(json.dumps({"transformers": transformers.__version__, "torch": torch.__version__,
                          "image": args.image, "size": [img.width, img.height],
                          "threads": args.threads, "repeats": args.repeats,
                          "grid_thw": [int(v) for v in out["image_grid_thw"][0]],
                          "dtype": "float32", "processor_s": round(float(np.median(proc_s)), 4),
                          "encoder_s": round(float(np.median(enc_s)), 4)}))
        return
    vp = AutoVideoProcessor.from_pretrained(args.model)
    kwargs = {"size": Qwen3OmniMoeProcessor.videos_kwargs["size"], "fps": args.fps,
              "do_sample_frames": True, "return_tensors": "pt", "return_metadata": True}
    proc_s, enc_s = [], []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        out = vp([args.video], **kwargs)
        t1 = time.perf_counter()
        with torch.no_grad():
            emb = encoder(out["pixel_values_videos"], grid_thw=out["video_grid_thw"])
        t2 = time.perf_counter()
        proc_s.append(t1 - t0)
        enc_s.append(t2 - t1)
    md = out["video_metadata"][0]
    seconds = md.total_num_frames / md.fps
    p, e = float(np.median(proc_s)), float(np.median(enc_s))
    print(json.dumps({"transformers": transformers.__version__, "torch": torch.__version__,
                      "video_seconds": round(seconds, 3), "fps": args.fps,
                      "threads": args.threads, "repeats": args.repeats,
                      "grid_thw": [int(v) for v in out["video_grid_thw"][0]], "dtype": "float32",
                      "processor_s": round(p, 4), "encoder_s": round(e, 4),
                      "encoder_s_per_video_s": round(e / seconds, 4),
                      "compute_s_per_video_s": round((p + e) / seconds, 4)}))


if __name__ == "__main__":
    main()
