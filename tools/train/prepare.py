#!/usr/bin/env python3
"""Turns the fetched corpus into token arrays for train.py.

Documents: a State of the Union address, a chapter of Moby-Dick, a scene of a play, a chapter of
the Bible. Every 20th document (in a fixed order) is held out. Chat turns in the ChatML format the
engine renders (<|im_start|>user ... <|im_start|>assistant ...) are mixed in, so the model answers
in turns: a speech in a play and the reply to it, or the opening of a prose passage and its
continuation. Writes OUT/train.bin and OUT/heldout.bin (uint16 token ids, documents separated by
<|endoftext|>), OUT/heldout_prompts.json and OUT/prepare.json (counts and the tokenizer's sha256).

Usage: prepare.py --corpus CORPUS_DIR --tokenizer TOKENIZER_DIR --out OUT_DIR
"""
import argparse
import glob
import hashlib
import json
import os
import random
import re

import numpy as np
from tokenizers import Tokenizer

HOLDOUT_EVERY = 20


def clean(text):
    text = text.replace("\r\n", "\n").replace("\u00a0", " ")
    text = re.sub(r"[ \t]+\n", "\n", text)
    text = re.sub(r"\n{3,}", "\n\n", text)
    return text.strip()


def sotu_docs(root):
    for path in sorted(glob.glob(os.path.join(root, "sotu", "*.txt"))):
        yield "sotu/" + os.path.basename(path), clean(open(path, encoding="utf-8").read())


def moby_docs(root):
    def chapter_key(path):
        m = re.search(r"chapter_(\d+)", path)
        return int(m.group(1)) if m else 10**6
    for path in sorted(glob.glob(os.path.join(root, "moby-dick", "*.txt")), key=chapter_key):
        yield "moby-dick/" + os.path.basename(path), clean(open(path, encoding="utf-8").read())


def play_text(md):
    """Markdown of a play -> plain text; returns scenes as (title, text, speeches)."""
    scenes, title, lines = [], None, []
    for line in md.splitlines():
        if line.startswith("## SCENE") or line.startswith("## PROLOGUE") or line.startswith("## EPILOGUE"):
            if lines:
                scenes.append((title, lines))
            title, lines = line.lstrip("# ").strip(), []
        elif line.startswith("#"):
            continue
        else:
            lines.append(line)
    if lines:
        scenes.append((title, lines))
    out = []
    for title, lines in scenes:
        speeches, speaker, words = [], None, []
        body = []
        for line in lines:
            line = line.rstrip()
            m = re.fullmatch(r"\*\*(.+?)\*\*", line.strip())
            if m:
                if speaker and words:
                    speeches.append((speaker, " ".join(words)))
                speaker, words = m.group(1).strip(), []
                body.append("\n" + speaker.upper() + ".")
                continue
            plain = line.replace("**", "").replace("_", "").strip()
            if not plain:
                continue
            body.append(plain)
            if speaker and not (line.strip().startswith("_") and line.strip().endswith("_")):
                words.append(plain)
        if speaker and words:
            speeches.append((speaker, " ".join(words)))
        out.append((title, clean("\n".join(body)), speeches))
    return out


def play_docs(root, speeches_out):
    for path in sorted(glob.glob(os.path.join(root, "shakespeare", "*.md"))):
        play = os.path.basename(path)[:-3]
        for i, (title, text, speeches) in enumerate(play_text(open(path, encoding="utf-8").read())):
            if text:
                name = f"shakespeare/{play}/{i:02d}"
                speeches_out[name] = speeches
                yield name, text


def bible_docs(root):
    chapters, order = {}, []
    for line in open(os.path.join(root, "kjv.txt"), encoding="utf-8"):
        m = re.match(r"(\S*?)(\d+):(\d+) (.*)", line.strip())
        if not m:
            continue
        key = (m.group(1), int(m.group(2)))
        if key not in chapters:
            chapters[key] = []
            order.append(key)
        chapters[key].append(m.group(4).strip())
    for book, ch in order:
        yield f"kjv/{book}{ch}", "\n".join(chapters[(book, ch)])


def sentences(text):
    parts = re.split(r"(?<=[.!?])\s+", " ".join(text.split()))
    return [p for p in parts if len(p) > 1]


def chat(user, assistant):
    return (f"<|im_start|>user\n{user}<|im_end|>\n"
            f"<|im_start|>assistant\n{assistant}<|im_end|>\n")


def make_chats(name, text, speeches, rng):
    """A few chat exchanges drawn from one document."""
    chats = []
    if speeches:  # a speech and the reply to it
        for (a, sa), (b, sb) in zip(speeches, speeches[1:]):
            if a != b and 20 <= len(sa) <= 400 and 20 <= len(sb) <= 600 and rng.random() < 0.5:
                chats.append(chat(sa, sb))
    else:  # the opening of a passage and its continuation
        sents = sentences(text)
        for start in range(0, max(0, len(sents) - 6), 12):
            if rng.random() < 0.5:
                k = rng.randint(1, 2)
                user = " ".join(sents[start:start + k])
                reply = " ".join(sents[start + k:start + k + rng.randint(2, 4)])
                if 20 <= len(user) <= 400 and len(reply) >= 20:
                    chats.append(chat(user, reply))
    return chats


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", required=True, help="fetch_corpus.sh's output directory")
    ap.add_argument("--tokenizer", required=True, help="directory with tokenizer.json")
    ap.add_argument("--out", required=True)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    raw = os.path.join(args.corpus, "raw")
    tok_path = os.path.join(args.tokenizer, "tokenizer.json")
    tok = Tokenizer.from_file(tok_path)
    eot = tok.token_to_id("<|endoftext|>")
    assert eot is not None, f"{tok_path}: no <|endoftext|> token"
    assert tok.get_vocab_size() <= 65536, "token ids must fit uint16"

    speeches = {}
    docs = list(sotu_docs(raw)) + list(moby_docs(raw)) + list(play_docs(raw, speeches)) + \
        list(bible_docs(raw))
    rng = random.Random(args.seed)
    train_texts, held_texts, held_names, chats = [], [], [], []
    for i, (name, text) in enumerate(docs):
        if i % HOLDOUT_EVERY == HOLDOUT_EVERY - 1:
            held_texts.append(text)
            held_names.append(name)
        else:
            train_texts.append(text)
            chats.extend(make_chats(name, text, speeches.get(name), rng))
    # Chats go between documents, in a seeded order.
    units = train_texts + chats
    rng.shuffle(units)

    os.makedirs(args.out, exist_ok=True)
    counts = {}
    for split, texts in (("train", units), ("heldout", held_texts)):
        ids = []
        for enc in tok.encode_batch(texts, add_special_tokens=False):
            ids.extend(enc.ids)
            ids.append(eot)
        arr = np.asarray(ids, dtype=np.uint16)
        tmp = os.path.join(args.out, split + ".bin.part")
        arr.tofile(tmp)
        os.replace(tmp, os.path.join(args.out, split + ".bin"))
        counts[split] = int(arr.size)

    # Held-out prompts for the quality check: each held-out document's opening sentence.
    prompts = []
    for name, text in zip(held_names, held_texts):
        s = sentences(text)
        if s and 30 <= len(s[0]) <= 200:
            prompts.append({"doc": name, "prompt": s[0]})
    with open(os.path.join(args.out, "heldout_prompts.json"), "w") as f:
        json.dump(prompts, f, indent=1)
    summary = {
        "documents": len(docs), "train_documents": len(train_texts),
        "heldout_documents": len(held_texts), "chat_turns": len(chats),
        "train_tokens": counts["train"], "heldout_tokens": counts["heldout"],
        "raw_bytes": sum(len(t.encode()) for _, t in docs),
        "tokenizer_sha256": hashlib.sha256(open(tok_path, "rb").read()).hexdigest(),
        "vocab_size": tok.get_vocab_size(),
    }
    with open(os.path.join(args.out, "prepare.json"), "w") as f:
        json.dump(summary, f, indent=1)
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
