#!/usr/bin/env python3
"""`omnisage serve` against the official `openai` Python package (docs/serve.md).

Generates the tiny model, starts the server on a free loopback port with an API key, and drives it
with openai.OpenAI: models.list, chat completions whole and streamed (the streamed text equals the
whole answer, usage in the last chunk), stop strings, seeded sampling, completions, an
input_audio part, an image_url part (a PNG data URL), a video_url part (tests/golden/video/
yuv_h264.mp4 as a data URL), and the errors the client raises (401 AuthenticationError, 400
BadRequestError with the field in `param`, http image and video URLs refused). Exits
non-zero on the first failed check.

Needs only the `openai` package (no Pillow: the PNG is written here). ctest runs it as
OpenAiClientTest (tests/integration/openai_client_test.sh, a venv in the build directory with the
pinned package); by hand:

  /opt/ref-venv/bin/python tools/reference/check_openai_client.py --omnisage build/tools/omnisage/omnisage
"""
import argparse
import base64
import io
import math
import pathlib
import re
import struct
import subprocess
import sys
import tempfile
import wave
import zlib

import openai


def wav_bytes(seconds=0.7, rate=16000):
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(b"".join(struct.pack("<h", int(8000 * math.sin(2 * math.pi * 440 * i / rate)))
                               for i in range(int(seconds * rate))))
    return buf.getvalue()


def png_bytes(width=96, height=64):
    """An 8-bit RGB PNG of a colour gradient (stored with zlib, filter 0 on every row)."""
    rows = b"".join(b"\0" + bytes(v for x in range(width)
                                   for v in (x * 255 // width, y * 255 // height, (x + y) % 256))
                    for y in range(height))

    def chunk(kind, data):
        return (struct.pack(">I", len(data)) + kind + data +
                struct.pack(">I", zlib.crc32(kind + data) & 0xffffffff))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)) +
            chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


def check(cond, what):
    if not cond:
        sys.exit(f"FAILED: {what}")
    print(f"ok: {what}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--omnisage", required=True)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        model = f"{tmp}/tiny"
        subprocess.run([args.omnisage, "synth", "--preset", "tiny", "--out", model], check=True,
                       capture_output=True)
        server = subprocess.Popen([args.omnisage, "serve", "--model", model, "--port", "0",
                                   "--api-key", "sk-test", "--max-tokens", "16"],
                                  stderr=subprocess.PIPE, text=True)
        try:
            port = None
            for line in server.stderr:
                m = re.search(r"listening on http://127\.0\.0\.1:(\d+)", line)
                if m:
                    port = int(m.group(1))
                    break
            check(port is not None, "the server starts")
            client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="sk-test")

            models = client.models.list()
            check([m.id for m in models.data] == ["tiny"], "models.list names the model")

            messages = [{"role": "system", "content": "Be brief."},
                        {"role": "user", "content": "Hello there"}]
            whole = client.chat.completions.create(model="tiny", messages=messages, max_tokens=12)
            text = whole.choices[0].message.content
            check(whole.object == "chat.completion" and isinstance(text, str) and text,
                  "chat completion has text")
            check(whole.usage.total_tokens == whole.usage.prompt_tokens + whole.usage.completion_tokens,
                  "usage adds up")

            stream = client.chat.completions.create(model="tiny", messages=messages, max_tokens=12,
                                                    stream=True,
                                                    stream_options={"include_usage": True})
            pieces, usage, finish = [], None, None
            for chunk in stream:
                if chunk.usage:
                    usage = chunk.usage
                for choice in chunk.choices:
                    if choice.delta.content:
                        pieces.append(choice.delta.content)
                    if choice.finish_reason:
                        finish = choice.finish_reason
            check("".join(pieces) == text, "streamed text equals the whole answer")
            check(usage is not None and usage.completion_tokens == whole.usage.completion_tokens,
                  "the stream's last chunk has the usage")
            check(finish == whole.choices[0].finish_reason, "same finish_reason")

            long = client.chat.completions.create(model="tiny", messages=messages, max_tokens=16,
                                                  extra_body={"ignore_eos": True})
            full = long.choices[0].message.content
            stop = full[len(full) // 2:len(full) // 2 + 2]
            cut = client.chat.completions.create(model="tiny", messages=messages, max_tokens=16,
                                                 stop=[stop], extra_body={"ignore_eos": True})
            check(cut.choices[0].message.content == full[:full.find(stop)] and
                  cut.choices[0].finish_reason == "stop", "a stop string ends the answer before it")

            sampled = [client.chat.completions.create(model="tiny", messages=messages, max_tokens=12,
                                                      temperature=0.9, top_p=0.9, seed=5)
                       .choices[0].message.content for _ in range(2)]
            check(sampled[0] == sampled[1], "the same seed samples the same answer")

            completion = client.completions.create(model="tiny", prompt="The sky is", max_tokens=8)
            check(completion.object == "text_completion" and completion.choices[0].text,
                  "text completion")
            streamed = "".join(c.choices[0].text for c in client.completions.create(
                model="tiny", prompt="The sky is", max_tokens=8, stream=True) if c.choices)
            check(streamed == completion.choices[0].text, "streamed completion equals the whole")

            audio = client.chat.completions.create(model="tiny", max_tokens=8, messages=[{
                "role": "user", "content": [
                    {"type": "input_audio",
                     "input_audio": {"data": base64.b64encode(wav_bytes()).decode(), "format": "wav"}},
                    {"type": "text", "text": "What is this?"}]}])
            check(audio.usage.prompt_tokens > 15, "an input_audio part is heard (its tokens counted)")

            try:
                openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="wrong",
                              max_retries=0).models.list()
                check(False, "a wrong key is refused")
            except openai.AuthenticationError as e:
                check(e.status_code == 401, "a wrong key raises AuthenticationError (401)")
            try:
                client.chat.completions.create(model="tiny", messages=messages, top_p=2)
                check(False, "top_p 2 is refused")
            except openai.BadRequestError as e:
                check(e.status_code == 400 and e.body.get("param") == "top_p",
                      "top_p 2 raises BadRequestError naming the field")
            question = {"type": "text", "text": "What is this?"}
            plain = client.chat.completions.create(model="tiny", max_tokens=4, messages=[
                {"role": "user", "content": [question]}])
            url = "data:image/png;base64," + base64.b64encode(png_bytes()).decode()
            seen = client.chat.completions.create(model="tiny", max_tokens=4, messages=[{
                "role": "user", "content": [{"type": "image_url", "image_url": {"url": url}},
                                            question]}])
            # 96x64 -> a 4x6 patch grid -> 6 tokens, between <|vision_start|> and <|vision_end|>.
            check(seen.usage.prompt_tokens == plain.usage.prompt_tokens + 8 and
                  seen.choices[0].message.content,
                  "an image_url data URL is seen (its 6 tokens and 2 markers counted)")
            try:
                client.chat.completions.create(model="tiny", messages=[{"role": "user", "content": [
                    {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}}]}])
                check(False, "an http image URL is refused")
            except openai.BadRequestError as e:
                check("only data URLs are accepted" in e.message and
                      e.body.get("param") == "messages[0].content[0].image_url.url",
                      "an http image URL is a 400 saying only data URLs are accepted")
            # A committed test video (H.264 in MP4) as a data URL, the form vLLM takes.
            video = (pathlib.Path(__file__).resolve().parents[2] / "tests" / "golden" / "video" /
                     "yuv_h264.mp4").read_bytes()
            watched = client.chat.completions.create(model="tiny", max_tokens=4, messages=[{
                "role": "user", "content": [
                    {"type": "video_url", "video_url": {
                        "url": "data:video/mp4;base64," + base64.b64encode(video).decode()}},
                    question]}])
            check(watched.usage.prompt_tokens > plain.usage.prompt_tokens + 2 and
                  watched.choices[0].message.content,
                  "a video_url data URL is seen (its tokens and 2 markers counted)")
            try:
                client.chat.completions.create(model="tiny", messages=[{"role": "user", "content": [
                    {"type": "video_url", "video_url": {"url": "https://example.com/clip.mp4"}}]}])
                check(False, "an http video URL is refused")
            except openai.BadRequestError as e:
                check("downloads nothing" in e.message and
                      e.body.get("param") == "messages[0].content[0].video_url.url",
                      "an http video URL is a 400 saying the server downloads nothing")
        finally:
            server.terminate()
            server.wait(timeout=30)
        check(server.returncode == 0, "the server stops cleanly on SIGTERM")
    print("all openai client checks passed")


if __name__ == "__main__":
    main()
