#!/usr/bin/env python3
"""Golden fixtures for video input (tests/golden/video, spec §7.1), produced by transformers 5.25.

transformers decodes videos with torchcodec (Qwen2VLVideoProcessor.fetch_videos; load_audio for the
sound track), which runs the system's FFmpeg libraries: run this on the machine whose FFmpeg the C++
build links (Debian 12: FFmpeg 5.1) so both decode with the same code. Needs torchcodec and
torchvision (tools/reference/requirements.txt); the test videos are written with PyAV.

Usage:
  tools/reference/make_video_golden.py --out tests/golden/video --model DIR

DIR is a checkpoint written by `omnisage synth --preset tiny --seed 0` (its tokenizer and
preprocessor_config.json configure Qwen3OmniMoeProcessor). Writes:
  - OUT/<video>: the test videos (small; committed), see VIDEOS;
  - OUT/<video>.frames.u8: every frame as torchcodec's VideoDecoder(seek_mode="exact") returns it,
    [frames, height, width, 3] uint8;
  - OUT/<video>.audio.f32: the sound track as load_audio(path, sampling_rate=16000,
    backend="torchcodec") returns it (videos with audio only);
  - OUT/<case>.f32: pixel_values_videos [patches, 1536] float32 for the processor cases (small
    size bounds, so the files stay small); for the case at the processor's own bounds only
    checksums (sum, sum of squares, sum of i * v in float64) and every 1009th value;
  - OUT/meta.json: per video its metadata, per case the call and its outputs (grid_thw,
    second_per_grid, sampled indices), and Qwen2VLVideoProcessor.sample_frames on a table of
    (frames, video fps, fps) triples;
  - OUT/thinker/: videos in the thinker's prompt end to end (--parts thinker): the tiny thinker
    (Qwen3OmniMoeForConditionalGeneration(...).thinker, float32) on a ChatML user turn with a video
    through the whole Qwen3OmniMoeProcessor, see THINKER_CASES: per case the expanded ids, float32
    logits of the last LAST positions (<case>.f32), the argmax at every position and 16 greedy
    tokens (the whole sequence re-run each step).

--parts picks what is written (default all: videos,thinker); the thinker part reads the videos
written by the first.
"""
import argparse
import json
import os

import av
import numpy as np
import torch
import torchcodec
import transformers
from torchcodec.decoders import VideoDecoder
from transformers import AutoTokenizer, AutoVideoProcessor, Qwen3OmniMoeProcessor, WhisperFeatureExtractor
from transformers.audio_utils import load_audio
from transformers.video_utils import VideoMetadata


def pattern(t, h, w, seed):
    """Edges, gradients, motion and a noisy band: every resampling weight and frame matters."""
    y, x = np.mgrid[0:h, 0:w]
    r = (x * 7 + y * 3 + t * 13 + seed) % 256
    g = np.where(((x + t) // 5 + y // 3) % 2 == 0, 30 + (y * 11) % 200, 250 - (x * 5) % 120)
    b = ((x ^ (y + t)) * 5 + seed * 17) % 256
    img = np.stack([r, g, b], axis=-1).astype(np.uint8)
    rng = np.random.RandomState(seed * 1000 + t)
    band = slice(h // 3, h // 3 + max(1, h // 6))
    img[band] = rng.randint(0, 256, size=img[band].shape).astype(np.uint8)
    return img


# name, video codec, pixel format, frames, fps, height, width, audio (codec, rate, layout) or None
VIDEOS = [
    # lossless RGB, width not a multiple of 32 (torchcodec converts through a filter graph)
    ("rgb_png.mov", "png", "rgb24", 10, 5, 40, 56, None),
    # H.264 4:2:0, width a multiple of 32 (swscale path); B-frames reorder the decode order
    ("yuv_h264.mp4", "libx264", "yuv420p", 12, 6, 48, 64, None),
    # MPEG-4 part 2 4:2:0, odd-ish width (filter graph path with chroma upsampling)
    ("yuv_mpeg4.avi", "mpeg4", "yuv420p", 9, 3, 36, 50, None),
    # lossless FFV1 RGB with a stereo 44.1 kHz FLAC track (use_audio_in_video)
    ("av_ffv1.mkv", "ffv1", "bgr0", 12, 5, 40, 56, ("flac", 44100, "stereo")),
    # bad input: one frame only (cannot be sampled)
    ("one_frame.mkv", "ffv1", "bgr0", 1, 5, 40, 56, None),
]

# name, video, size bounds passed to the processor (None: the processor's own), fps
CASES = [
    ("png_small", "rgb_png.mov", {"shortest_edge": 1024, "longest_edge": 4096}, 2.0),
    ("h264_small", "yuv_h264.mp4", {"shortest_edge": 2048, "longest_edge": 3072}, 3.0),
    ("mpeg4_down", "yuv_mpeg4.avi", {"shortest_edge": 256, "longest_edge": 1024}, 2.0),
    ("av_default", "av_ffv1.mkv", None, 2.0),
]

# (total frames, video fps, fps): Qwen2VLVideoProcessor.sample_frames (min 4, max 768 frames)
SAMPLING = [
    (10, 5.0, 2.0), (12, 6.0, 3.0), (9, 3.0, 2.0), (300, 30.0, 2.0), (301, 29.97, 2.0),
    (2, 25.0, 2.0), (3, 25.0, 2.0), (5, 25.0, 2.0), (7, 1.0, 2.0), (100, 24.0, 0.5),
    (2000, 25.0, 1.0), (90000, 30.0, 2.0), (1000, 29.97002997, 2.0), (17, 8.0, 4.0),
    (33, 30.0, 24.0), (1537, 60.0, 2.0),
]


# The published tokenizer_config.json names these; the generated checkpoint's does not.
SPECIAL = {"image_token": "<|image_pad|>", "audio_token": "<|audio_pad|>",
           "video_token": "<|video_pad|>", "vision_bos_token": "<|vision_start|>",
           "vision_eos_token": "<|vision_end|>", "audio_bos_token": "<|audio_start|>",
           "audio_eos_token": "<|audio_end|>"}


def write_video(path, codec, pix, n, fps, h, w, audio, seed):
    c = av.open(path, "w")
    s = c.add_stream(codec, rate=fps)
    s.width, s.height, s.pix_fmt = w, h, pix
    if codec == "libx264":
        s.options = {"bf": "2", "g": "6"}
    a = None
    if audio:
        a = c.add_stream(audio[0], rate=audio[1])
        a.layout = audio[2]
    for t in range(n):
        for p in s.encode(av.VideoFrame.from_ndarray(pattern(t, h, w, seed), format="rgb24")):
            c.mux(p)
    for p in s.encode():
        c.mux(p)
    if a is not None:
        rate, nch = audio[1], 2 if audio[2] == "stereo" else 1
        total = int(n / fps * rate)
        tt = np.arange(total) / rate
        sig = np.stack([0.3 * np.sin(2 * np.pi * 440 * (k + 1) * tt) + 0.05 * np.sin(2 * np.pi * 3 * tt)
                        for k in range(nch)]).astype(np.float32)
        for st in range(0, total, 1024):
            fr = av.AudioFrame.from_ndarray(np.ascontiguousarray(sig[:, st:st + 1024]), format="fltp",
                                            layout=audio[2])
            fr.sample_rate, fr.pts = rate, st
            for p in a.encode(fr):
                c.mux(p)
        for p in a.encode():
            c.mux(p)
    c.close()


# A user turn with the video, as the chat template renders a video part, and a question.
PROMPT = ("<|im_start|>user\n<|vision_start|><|video_pad|><|vision_end|>What happens?<|im_end|>\n"
          "<|im_start|>assistant\n")


def prompt_cases(model_dir, proc, out_dir):
    """The processor's expanded ids for a video prompt, without and with the video's own sound
    (load_audio_from_video: <|audio_pad|> and <|video_pad|> interleaved by time), and the tiny
    thinker's get_rope_index positions for them."""
    thinker = transformers.Qwen3OmniMoeForConditionalGeneration.from_pretrained(
        model_dir, dtype=torch.float32).thinker.eval()
    path = os.path.join(out_dir, "av_ffv1.mkv")
    cases = []
    for name, with_audio in (("video", False), ("video_with_audio", True)):
        out = proc(text=[PROMPT], videos=[path], return_tensors="pt",
                   videos_kwargs={"fps": 2.0, "do_sample_frames": True},
                   load_audio_from_video=with_audio)
        ids = out["input_ids"]
        spg = out["video_second_per_grid"]
        spg = torch.as_tensor(spg, dtype=torch.float32)
        audio_frames = (out["feature_attention_mask"].sum(-1) if with_audio else None)
        pos, delta = thinker.model.get_rope_index(
            ids, video_grid_thw=out["video_grid_thw"], attention_mask=torch.ones_like(ids),
            use_audio_in_video=with_audio, audio_seqlens=audio_frames, second_per_grids=spg)
        case = {"name": name, "ids": ids[0].tolist(),
                "grid_thw": [int(v) for v in out["video_grid_thw"][0]],
                "second_per_grid": float(spg[0]),
                "positions": pos[:, 0, :].T.float().tolist(), "delta": float(delta.reshape(-1)[0])}
        if with_audio:
            case["audio_frames"] = int(audio_frames[0])
        cases.append(case)
        print(f"prompt {name}: {len(case['ids'])} ids, delta {case['delta']}")
    return cases


LAST = 6
GREEDY = 16

# name: video, fps, heard with its own sound (load_audio_from_video / use_audio_in_video)
THINKER_CASES = {
    "video": ("av_ffv1.mkv", 2.0, False),
    "video_with_audio": ("av_ffv1.mkv", 2.0, True),
    # fps 3: second_per_grid 2/3, which the thinker receives as float32 (0.6666667)
    "video_fps3": ("yuv_h264.mp4", 3.0, False),
}


def write_thinker(model_dir, proc, out_dir):
    thinker = transformers.Qwen3OmniMoeForConditionalGeneration.from_pretrained(
        model_dir, dtype=torch.float32).thinker.eval()
    d = os.path.join(out_dir, "thinker")
    os.makedirs(d, exist_ok=True)
    meta = {"transformers": transformers.__version__, "torch": torch.__version__,
            "torchcodec": torchcodec.__version__, "model": "synth --preset tiny --seed 0",
            "dtype": "float32", "last": LAST, "text": PROMPT, "cases": {}}
    for name, (video, fps, heard) in THINKER_CASES.items():
        out = proc(text=[PROMPT], videos=[os.path.join(out_dir, video)], return_tensors="pt",
                   videos_kwargs={"fps": fps, "do_sample_frames": True},
                   load_audio_from_video=heard)
        ids = out.pop("input_ids")
        out.pop("attention_mask", None)
        kwargs = dict(out)
        kwargs["use_audio_in_video"] = heard
        with torch.no_grad():
            logits = thinker(input_ids=ids, attention_mask=torch.ones_like(ids), **kwargs).logits[0]
            greedy = ids[0].tolist()
            for _ in range(GREEDY):
                x = torch.tensor([greedy])
                step = thinker(input_ids=x, attention_mask=torch.ones_like(x), **kwargs).logits[0, -1]
                greedy.append(int(torch.argmax(step)))
        logits = logits.float().numpy()
        logits[-LAST:].astype("<f4").tofile(os.path.join(d, f"{name}.f32"))
        n = ids.shape[1]
        meta["cases"][name] = {
            "video": video, "fps": fps, "use_audio_in_video": heard,
            "grid_thw": [int(v) for v in out["video_grid_thw"][0]],
            "second_per_grid": float(out["video_second_per_grid"][0]),
            "audio_frames": int(out["feature_attention_mask"].sum()) if heard else 0,
            "ids": ids[0].tolist(), "argmax": logits.argmax(-1).tolist(),
            "vocab": int(logits.shape[1]), "file": f"{name}.f32", "greedy": greedy[n:]}
        print(f"thinker {name}: {n} tokens, grid {meta['cases'][name]['grid_thw']}, "
              f"greedy {greedy[n:]}")
    with open(os.path.join(d, "meta.json"), "w") as fh:
        json.dump(meta, fh)


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True)
    ap.add_argument("--model", required=True, help="omnisage synth --preset tiny --seed 0 checkpoint")
    ap.add_argument("--parts", default="videos,thinker")
    args = ap.parse_args()
    parts = args.parts.split(",")
    os.makedirs(args.out, exist_ok=True)
    # The checkpoint has no processor_config.json: assemble Qwen3OmniMoeProcessor from its parts.
    proc = Qwen3OmniMoeProcessor(
        image_processor=transformers.AutoImageProcessor.from_pretrained(args.model),
        video_processor=AutoVideoProcessor.from_pretrained(args.model),
        feature_extractor=WhisperFeatureExtractor.from_pretrained(args.model),
        tokenizer=AutoTokenizer.from_pretrained(args.model, extra_special_tokens=SPECIAL))
    if "thinker" in parts and "videos" not in parts:
        write_thinker(args.model, proc, args.out)
        return
    vp = proc.video_processor
    meta = {"transformers": transformers.__version__, "torch": torch.__version__,
            "torchcodec": torchcodec.__version__, "pyav": av.__version__,
            "processor": type(proc).__name__, "video_processor": type(vp).__name__,
            "processor_video_size": proc.videos_kwargs["size"],
            "videos": [], "cases": [], "sampling": []}

    for i, (name, codec, pix, n, fps, h, w, audio) in enumerate(VIDEOS):
        path = os.path.join(args.out, name)
        write_video(path, codec, pix, n, fps, h, w, audio, 3 + i)
        dec = VideoDecoder(path, seek_mode="exact", num_ffmpeg_threads=0)
        md = dec.metadata
        frames = dec.get_frames_at(indices=list(range(md.num_frames))).data  # [n, 3, h, w]
        frames.permute(0, 2, 3, 1).contiguous().numpy().tofile(path + ".frames.u8")
        entry = {"name": name, "codec": codec, "num_frames": md.num_frames,
                 "average_fps": md.average_fps, "duration_seconds": md.duration_seconds,
                 "width": md.width, "height": md.height, "audio": audio is not None}
        if audio:
            samples = load_audio(path, sampling_rate=16000, backend="torchcodec")
            np.ascontiguousarray(samples, dtype="<f4").tofile(path + ".audio.f32")
            entry["audio_samples"] = int(samples.shape[0])
        meta["videos"].append(entry)
        print(f"{name}: {md.num_frames} frames at {md.average_fps} fps, {md.width}x{md.height}")

    for name, video, size, fps in CASES:
        path = os.path.join(args.out, video)
        kwargs = {"fps": fps, "do_sample_frames": True}
        if size is not None:
            kwargs["size"] = size
        # The processor's own call: text with one video placeholder, the video's settings as above.
        text = "<|vision_start|><|video_pad|><|vision_end|>"
        out = proc(text=[text], videos=[path], return_tensors="pt", videos_kwargs=kwargs,
                   return_metadata=True)
        pv = np.ascontiguousarray(out["pixel_values_videos"].numpy(), dtype="<f4")
        grid = [int(v) for v in out["video_grid_thw"][0]]
        spg = float(out["video_second_per_grid"][0])
        indices = [int(v) for v in out["video_metadata"][0].frames_indices]
        case = {"name": name, "video": video, "size": size, "fps": fps, "grid_thw": grid,
                "second_per_grid": spg, "frame_indices": indices, "patches": int(pv.shape[0]),
                "patch_dim": int(pv.shape[1])}
        if size is not None:
            pv.tofile(os.path.join(args.out, name + ".f32"))
        else:
            flat = pv.astype(np.float64).reshape(-1)
            case["sum"] = float(flat.sum())
            case["sum_sq"] = float((flat * flat).sum())
            case["sum_iv"] = float((np.arange(flat.size, dtype=np.float64) * flat).sum())
            case["every_1009th"] = pv.reshape(-1)[::1009].tolist()
        meta["cases"].append(case)
        print(f"{name}: grid {grid}, {pv.shape[0]} patches, second_per_grid {spg}, frames {indices}")

    for total, vfps, fps in SAMPLING:
        md = VideoMetadata(total_num_frames=total, fps=vfps)
        try:
            idx = [int(v) for v in vp.sample_frames(md, fps=fps)]
            meta["sampling"].append({"frames": total, "video_fps": vfps, "fps": fps, "indices": idx})
        except (ValueError, ZeroDivisionError) as e:
            meta["sampling"].append({"frames": total, "video_fps": vfps, "fps": fps,
                                     "error": type(e).__name__})

    meta["prompts"] = prompt_cases(args.model, proc, args.out)

    with open(os.path.join(args.out, "meta.json"), "w") as fh:
        json.dump(meta, fh, indent=1)
    if "thinker" in parts:
        write_thinker(args.model, proc, args.out)


if __name__ == "__main__":
    main()
