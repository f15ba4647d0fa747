#!/usr/bin/env python3
"""Golden fixtures for speech output, produced by HF transformers on generated weights.

For a checkpoint written by `omnisage synth --preset tiny --seed 0`, runs the reference
implementation in float32 (bf16 weights are exact in float32, so this is the engine's function)
and writes to OUT_DIR:

  generate.json          per case (one with an audio clip in the user turn, audio_clips.test_clip,
                         so the talker reads the thinker's hidden states there): the thinker input ids, generate(..., return_audio=True)'s
                         text ids (greedy thinker, talker and code predictor, the talker's
                         default repetition penalty 1.05), its talker codes [frames][Q] and the
                         number of samples; generate_<case>.f32 holds the waveform
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

from audio_clips import test_clip

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


# (name, messages, thinker tokens at most, stop token: "im_end" or the n-th greedy token, talker
# tokens at most). Random weights never say <|im_end|> on their own: the second case stops on
# its 6th greedy token instead, so the answer ends the way a real one does.
CASES = [
    ("single_turn", [("system", "You are a helpful assistant."), ("user", "Hello, who are you?")],
     12, None, 40),
    ("two_turns", [("user", "Hi"), ("assistant", "Hello there."), ("system", "Be brief."),
                   ("user", "Say it again")], 16, 5, 24),
]


def chatml(messages):
    text = "".join(f"<|im_start|>{role}\n{content}<|im_end|>\n" for role, content in messages)
    return text + "<|im_start|>assistant\n"


def generate_fixture(model, model_dir, out):
    import tokenizers
    tok = tokenizers.Tokenizer.from_file(os.path.join(model_dir, "tokenizer.json"))
    im_end = model.config.im_end_token_id
    speaker = "ethan"
    captured = {}
    original = model.code2wav.chunked_decode

    def capture(codes, **kwargs):
        captured["codes"] = codes
        return original(codes, **kwargs)

    model.code2wav.chunked_decode = capture
    cases = []
    for name, messages, max_new, stop_at, talker_max in CASES:
        ids = tok.encode(chatml(messages), add_special_tokens=False).ids
        eos = im_end
        with torch.no_grad():
            if stop_at is not None:  # stop on the stop_at-th token of the greedy answer
                probe = model.thinker.generate(input_ids=torch.tensor([ids]), max_new_tokens=max_new,
                                               do_sample=False, eos_token_id=im_end)
                eos = int(probe[0, len(ids) + stop_at])
            captured.clear()
            seq, wav = model.generate(input_ids=torch.tensor([ids]), return_audio=True,
                                      speaker=speaker, thinker_max_new_tokens=max_new,
                                      thinker_do_sample=False, thinker_eos_token_id=eos,
                                      talker_do_sample=False, talker_max_new_tokens=talker_max)
        wav = wav[0, 0].numpy()
        codes = captured["codes"][0].T.tolist()  # [frames, Q]
        write_f32(os.path.join(out, f"generate_{name}.f32"), wav)
        cases.append({"name": name, "input_ids": ids, "speaker": speaker,
                      "thinker_max_new_tokens": max_new, "thinker_eos": eos,
                      "talker_max_new_tokens": talker_max,
                      "sequence": seq[0].tolist(), "codes": codes, "samples": len(wav)})
        print(f"generate {name}: {len(seq[0]) - len(ids)} text tokens, {len(codes)} frames, "
              f"{len(wav)} samples, max |x| {np.abs(wav).max():.3f}")
    # A user turn with a 0.7 s clip: its <|audio_pad|> rows reach the talker through
    # hidden_projection(thinker hidden state at accept_hidden_layer).
    fe = transformers.WhisperFeatureExtractor.from_pretrained(model_dir)
    clip = test_clip(11, 11200)
    feats = fe([clip], sampling_rate=16000, padding=True, truncation=False,
               return_attention_mask=True, return_tensors="pt")
    count = transformers.models.qwen3_omni_moe.processing_qwen3_omni_moe \
        ._get_feat_extract_output_lengths(feats["attention_mask"].sum(-1),
                                          model.config.thinker_config.audio_config.n_window)
    audio_id = model.config.thinker_config.audio_token_id
    prompt_ids = tok.encode(chatml([("user", "<|audio_start|><|audio_pad|><|audio_end|>"
                                             "What is this sound?")]),
                            add_special_tokens=False).ids
    ids = []
    for t in prompt_ids:
        ids += [audio_id] * int(count[0]) if t == audio_id else [t]
    with torch.no_grad():
        captured.clear()
        seq, wav = model.generate(input_ids=torch.tensor([ids]), return_audio=True,
                                  speaker=speaker, thinker_max_new_tokens=10,
                                  thinker_do_sample=False, thinker_eos_token_id=im_end,
                                  talker_do_sample=False, talker_max_new_tokens=20,
                                  input_features=feats["input_features"],
                                  feature_attention_mask=feats["attention_mask"])
    wav = wav[0, 0].numpy()
    codes = captured["codes"][0].T.tolist()
    write_f32(os.path.join(out, "generate_audio_prompt.f32"), wav)
    cases.append({"name": "audio_prompt", "input_ids": ids, "prompt_ids": prompt_ids,
                  "clip": {"seed": 11, "samples": 11200}, "speaker": speaker,
                  "thinker_max_new_tokens": 10, "thinker_eos": im_end,
                  "talker_max_new_tokens": 20, "sequence": seq[0].tolist(), "codes": codes,
                  "samples": len(wav)})
    print(f"generate audio_prompt: {int(count[0])} audio tokens, {len(codes)} frames")
    model.code2wav.chunked_decode = original
    with open(os.path.join(out, "generate.json"), "w") as f:
        json.dump({"transformers": transformers.__version__, "torch": torch.__version__,
                   "cases": cases}, f, indent=1)


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
    generate_fixture(model, args.model, args.out)
    code_predictor_fixture(model, args.out)
    code2wav_fixture(model, args.out)


if __name__ == "__main__":
    main()
