"""Deterministic test clips shared by the audio golden fixtures and the C++ tests.

test_clip(seed, n) is computed in integers only, so Python and C++ (tests/audio/test_clips.h)
produce bit-identical float32 samples: a triangle wave whose pitch changes every 0.1 s
(222-889 Hz), plus LCG noise, with every fifth quarter second silent (exact zeros, so the log-mel
floor of max - 8 is exercised). Peak amplitude 8047 / 32768.
"""
import numpy as np


def test_clip(seed, n):
    out = np.empty(n, dtype=np.float32)
    state = seed & 0xFFFFFFFF
    for i in range(n):
        state = (state * 1664525 + 1013904223) & 0xFFFFFFFF
        noise = (state >> 20) - 2048
        period = 18 + ((i // 1600 + seed) % 7) * 9
        pos = i % period
        if 2 * pos < period:
            tri = -6000 + (24000 * pos) // period
        else:
            tri = 18000 - (24000 * pos) // period
        v = tri + noise if (i // 4000) % 5 != 3 else 0
        out[i] = np.float32(v) / np.float32(32768)
    return out
