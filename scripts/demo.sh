#!/usr/bin/env bash
# The main job on small models: build, make a tiny Qwen3-Omni checkpoint around the trained
# reference MoE (data/reference-moe), inspect it,
# extract it into an expert store, verify and repack it, answer a prompt from both and questions
# about a sound file and a picture it writes; chat under an expert-memory budget (same answer as with every
# expert resident, with the cache's statistics);
# then generate the full-size model as a sparse checkpoint (real shapes, almost no disk), show
# what each memory plan costs, and run it under a 2 GiB expert budget; the tiny and the full-size
# model also speak their answers into WAV files. Outputs go to $OUT
# (default: out/).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
omnisage=build/tools/omnisage/omnisage
out=${OUT:-out}
rm -rf "$out/tiny" "$out/full"

echo; echo "== 1. A tiny Qwen3-Omni checkpoint whose thinker is the trained reference MoE =="
# data/reference-moe: a 22M-parameter Qwen3-MoE trained on public-domain English
# (docs/reference-moe.md); its audio, vision and speech parts are generated around it.
$omnisage synth --preset tiny --thinker-from data/reference-moe --out "$out/tiny"
$omnisage inspect "$out/tiny" --budget 25%

echo; echo "== 2. Into an expert store (one file per expert), verified, and back =="
rm -rf "$out/tiny-store" "$out/tiny-repacked"
$omnisage extract "$out/tiny" --out "$out/tiny-store"
$omnisage verify "$out/tiny-store"
$omnisage repack "$out/tiny-store" --out "$out/tiny-repacked"
diff -r "$out/tiny" "$out/tiny-repacked" && echo "repacked checkpoint is byte-identical to the source"

echo; echo "== 3. Answer a prompt, from the checkpoint and from the expert store =="
$omnisage run --model "$out/tiny" --prompt "Hello! What can you do?" --max-tokens 24
$omnisage run --model "$out/tiny-store" --prompt "Hello! What can you do?" --max-tokens 24
echo "(a 22M-parameter model trained for an hour on two cores: English, not sense; identical from both sources)"

echo; echo "== 3b. Ask about a sound: a 2-second rising tone, 44.1 kHz stereo, written here =="
# perl (essential in Debian) writes a 16-bit PCM WAV; omnisage hears it as 16 kHz mono.
perl -e '
  my ($rate, $n) = (44100, 88200); my $data = "";
  for my $i (0 .. $n - 1) {
    my $t = $i / $rate; my $s = int(9000 * sin(2 * 3.14159265 * (300 + 200 * $t) * $t));
    $data .= pack("s<s<", $s, $s / 2);
  }
  print pack("A4 V A4 A4 V v v V V v v A4 V", "RIFF", 36 + length($data), "WAVE", "fmt ", 16,
             1, 2, $rate, 4 * $rate, 4, 16, "data", length($data)), $data;' > "$out/tone.wav"
$omnisage audio "$out/tone.wav"
$omnisage run --model "$out/tiny" --audio "$out/tone.wav" --prompt "What do you hear?" --max-tokens 24
echo "(the clip became 26 audio tokens through the AuT encoder; docs/audio.md)"

echo; echo "== 3c. Ask about a picture: a red disc on a blue gradient, 160x120 PNG, written here =="
# perl-base alone writes the PNG: raw RGB rows in stored deflate blocks, CRC-32 and Adler-32 here.
perl -e '
  my ($w, $h) = (160, 120); my $raw = "";
  for my $y (0 .. $h - 1) {
    $raw .= "\0";  # filter: none
    for my $x (0 .. $w - 1) {
      my $in = ($x - 80) ** 2 + ($y - 60) ** 2 < 40 ** 2;
      $raw .= $in ? pack("C3", 220, 30, 30) : pack("C3", 20, 40 + $y, 160 + int($x / 4));
    }
  }
  my @crc = map { my $c = $_; $c = ($c & 1) ? 0xedb88320 ^ ($c >> 1) : $c >> 1 for 1 .. 8; $c } 0 .. 255;
  sub crc { my $c = 0xffffffff; $c = $crc[($c ^ $_) & 0xff] ^ ($c >> 8) for unpack("C*", $_[0]); $c ^ 0xffffffff }
  sub chunk { pack("N", length $_[1]) . $_[0] . $_[1] . pack("N", crc($_[0] . $_[1])) }
  my ($z, $pos, $a, $b) = ("\x78\x01", 0, 1, 0);  # zlib: stored deflate blocks, Adler-32
  while (1) {
    my $n = length($raw) - $pos; $n = 65535 if $n > 65535; my $last = $pos + $n >= length($raw);
    $z .= pack("C v v", $last ? 1 : 0, $n, $n ^ 0xffff) . substr($raw, $pos, $n); $pos += $n;
    last if $last;
  }
  for (unpack("C*", $raw)) { $a = ($a + $_) % 65521; $b = ($b + $a) % 65521 }
  print "\x89PNG\r\n\x1a\n", chunk("IHDR", pack("N N C5", $w, $h, 8, 2, 0, 0, 0)),
        chunk("IDAT", $z . pack("N", ($b << 16) | $a)), chunk("IEND", "");
' > "$out/disc.png"
$omnisage run --model "$out/tiny" --image "$out/disc.png" --prompt "What shape is in this picture?" \
  --max-tokens 24
echo "(the image became 20 image tokens through the vision encoder, with deepstack; docs/vision.md)"

echo; echo "== 3d. Speak the answer: talker, code predictor and code2wav, a WAV written as it streams =="
$omnisage run --model "$out/tiny" --prompt "Hello! What can you do?" --max-tokens 24 \
  --speak "$out/answer.wav" --voice chelsie --speak-max-frames 100 --speak-chunk 10
echo "(the talker is generated, not trained: the sound is noise, the same codes as transformers would make; docs/speech.md)"

echo; echo "== 4. A chat turn with a quarter of the experts' memory (exact: the same answer) =="
printf 'Hello! What can you do?\n' |
  $omnisage chat --model "$out/tiny-store" --budget 25% --max-tokens 24
echo "(expert weights come through a cache of 25% of their bytes; output equals the unlimited run)"

echo; echo "== 5. The full-size model (35B parameters), written sparse =="
$omnisage synth --preset full --sparse --out "$out/full"
echo "disk used: $(du -sh "$out/full" | cut -f1) for $(du -sh --apparent-size "$out/full" | cut -f1) of files"
$omnisage inspect "$out/full" --budget 16GiB

echo; echo "== 6. The full-size thinker under a 2 GiB expert budget =="
$omnisage run --model "$out/full" --prompt "Hi" --raw --max-tokens 4 --ignore-stop --budget 2GiB \
  --context 512
echo "(the sparse checkpoint's weights are zeros, so the tokens mean nothing: this shows memory)"

echo; echo "== 7. The full-size model speaking, thinker and talker experts in one 2 GiB budget =="
$omnisage run --model "$out/full" --prompt "Hi" --max-tokens 4 --ignore-stop --budget 2GiB \
  --context 512 --speak "$out/full-answer.wav" --speak-max-frames 12 --speak-chunk 12
