#!/usr/bin/env python3
"""Golden fixtures for speech output, produced by HF transformers on generated weights.

For a checkpoint written by `omnisage synth --preset tiny --seed 0`, runs the reference
implementation in float32 (bf16 weights are exact in float32, so this is the engine's function)
and writes to OUT_DIR:

  code_predictor.json    per trial: the talker hidden state, code 0, the greedy codes 1..Q-1,
                         each step's logits and the sum of the residual codes' embeddings
                         (what generate adds to the next talker input besides code 0's)
  code2wav.json          the code2wav inputs and window settings, and the output lengths
  code2wav_codes.i32     int32 codes [frames, Q] (frame-major: one talker step's Q codes together)
  code2wav_full.f32      Qwen3OmniMoeCode2Wav.forward(codes): all frames as one window
  code2wav_chunk_C_L.f32 chunked_decode(codes, chunk_size=C, left_context_size=L)

Usage: make_speech_golden.py --model DIR --out OUT_DIR
"""
import argparse
import json
import os

import numpy as np
import torch
import transformers

# chunked_decode settings checked besides one window: the reference's (300, 25), windows with a
# full and a partial left context (10, 25), and a short context (7, 3).
CHUNKINGS = [(300, 25), (10, 25), (7, 3)]


def write_f32(path, values):
    np.asarray(values, dtype="<f4").tofile(path)


def code2wav_fixture(model, out, frames=39, seed=0):
    c2w = model.code2wav
    q, cb = c2w.config.num_quantizers, c2w.config.codebook_size
    g = torch.Generator().manual_seed(seed)
    codes = torch.randint(0, cb, (1, q, frames), generator=g)
    codes[0, :, 0] = 0
    codes[0, :, 1] = cb - 1  # both ends of the codebook
    meta = {"frames": frames, "quantizers": q, "codebook_size": cb,
            "samples_per_frame": int(c2w.total_upsample), "chunkings": []}
    np.asarray(codes[0].T.numpy(), dtype="<i4").tofile(os.path.join(out, "code2wav_codes.i32"))
    with torch.no_grad():
        full = c2w(codes)[0, 0].numpy()
        write_f32(os.path.join(out, "code2wav_full.f32"), full)
        meta["full_samples"] = len(full)
        for chunk, left in CHUNKINGS:
            wav = c2w.chunked_decode(codes, chunk_size=chunk, left_context_size=left)[0, 0].numpy()
            write_f32(os.path.join(out, f"code2wav_chunk_{chunk}_{left}.f32"), wav)
            meta["chunkings"].append({"chunk": chunk, "left_context": left, "samples": len(wav)})
    with open(os.path.join(out, "code2wav.json"), "w") as f:
        json.dump(meta, f, indent=1)
    print(f"code2wav: {frames} frames -> {len(full)} samples, max |x| {np.abs(full).max():.3f}")


def code_predictor_fixture(model, out, trials=3, seed=1):
    talker = model.talker
    cp = talker.code_predictor
    groups = talker.config.num_code_groups
    g = torch.Generator().manual_seed(seed)
    result = []
    with torch.no_grad():
        for _ in range(trials):
            hidden = torch.randn((1, 1, cp.config.hidden_size), generator=g)
            code0 = int(torch.randint(0, cp.config.vocab_size, (1,), generator=g))
            code0_embed = talker.get_input_embeddings()(torch.tensor([[code0]]))
            r = cp.generate(inputs_embeds=torch.cat((hidden, code0_embed), dim=1),
                            max_new_tokens=groups - 1, do_sample=False, output_hidden_states=True,
                            output_logits=True, return_dict_in_generate=True)
            # As Qwen3OmniMoeTalkerForConditionalGeneration.prepare_inputs_for_generation.
            mid = [hid[0] for hid in r.hidden_states[1:]]
            last = cp.get_input_embeddings()[-1](r.sequences[..., -1:])
            residual_sum = torch.cat(mid + [last], dim=1).sum(1)[0]
            result.append({"hidden": hidden[0, 0].tolist(), "code0": code0,
                           "codes": r.sequences[0].tolist(),
                           "logits": [l[0].tolist() for l in r.logits],
                           "residual_embedding_sum": residual_sum.tolist()})
    with open(os.path.join(out, "code_predictor.json"), "w") as f:
        json.dump({"groups": groups, "trials": result}, f)
    print(f"code predictor: codes {[t['codes'] for t in result]}")


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    torch.manual_seed(0)
    model = transformers.Qwen3OmniMoeForConditionalGeneration.from_pretrained(
        args.model, dtype=torch.float32).eval()
    os.makedirs(args.out, exist_ok=True)
    code_predictor_fixture(model, args.out)
    code2wav_fixture(model, args.out)


if __name__ == "__main__":
    main()
