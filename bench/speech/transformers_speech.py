#!/usr/bin/env python3
"""Times transformers' speech output on the CPU: the talker, code predictor and code2wav of
Qwen3OmniMoeForConditionalGeneration.generate(return_audio=True), for a fixed answer.

The thinker is not what is timed: its generate is replaced by a canned result (the given answer
ids, with the embeddings as hidden states), so only the speech stages run, on the same text the
engine speaks. The thinker's decoder layers are not even loaded (num_hidden_layers = 1): only its
embedding is used. Greedy talker and code predictor, talker_max_new_tokens = frames + 1 (a
checkpoint of zeros never says codec_eos, so every run makes exactly `frames` frames).

Prints one JSON object: frames, samples, audio seconds, total / code2wav seconds, real-time factor.
Usage: transformers_speech.py --model DIR --input-ids 1,2,3 --answer-ids 4,5 --frames N [--threads 2]
"""
import argparse
import json
import time
import types

import torch
import transformers


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True)
    ap.add_argument("--input-ids", required=True)
    ap.add_argument("--answer-ids", required=True)
    ap.add_argument("--frames", type=int, required=True)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--chunk", type=int, default=300)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    config = transformers.AutoConfig.from_pretrained(args.model)
    config.thinker_config.text_config.num_hidden_layers = 1
    t0 = time.time()
    model = transformers.Qwen3OmniMoeForConditionalGeneration.from_pretrained(
        args.model, config=config, dtype=torch.float32).eval()
    load_s = time.time() - t0
    input_ids = [int(x) for x in args.input_ids.split(",")]
    answer = [int(x) for x in args.answer_ids.split(",")]
    sequence = torch.tensor([input_ids + answer])
    accept = model.config.talker_config.accept_hidden_layer

    def canned_generate(self, input_ids=None, **kwargs):
        # What thinker.generate(output_hidden_states=True) returns: per step, the hidden states
        # of every layer; only [0] (embeddings) and [accept] (media rows) are read.
        embed = self.get_input_embeddings()(sequence[:, :-1])
        steps = [embed[:, :len(input_ids)]] + [embed[:, i:i + 1]
                                                for i in range(len(input_ids), embed.shape[1])]
        hidden = tuple(tuple(s for _ in range(accept + 1)) for s in steps)
        return types.SimpleNamespace(sequences=sequence, hidden_states=hidden)

    model.thinker.generate = types.MethodType(canned_generate, model.thinker)
    c2w = {"seconds": 0.0}
    original = model.code2wav.chunked_decode

    def timed_decode(codes, **kwargs):
        t = time.time()
        kwargs["chunk_size"] = args.chunk
        out = original(codes, **kwargs)
        c2w["seconds"] += time.time() - t
        return out

    model.code2wav.chunked_decode = timed_decode
    with torch.no_grad():
        t = time.time()
        _, wav = model.generate(input_ids=torch.tensor([input_ids]), return_audio=True,
                                speaker="ethan", talker_do_sample=False,
                                talker_max_new_tokens=args.frames + 1)
        total = time.time() - t
    samples = wav.shape[-1]
    audio = samples / 24000
    print(json.dumps({"transformers": transformers.__version__, "torch": torch.__version__,
                      "threads": args.threads, "load_s": load_s, "frames": args.frames,
                      "samples": samples, "audio_seconds": audio, "speech_seconds": total,
                      "code2wav_seconds": c2w["seconds"],
                      "talker_and_predictor_seconds": total - c2w["seconds"],
                      "real_time_factor": total / audio, "first_audio_seconds": total}))


if __name__ == "__main__":
    main()
