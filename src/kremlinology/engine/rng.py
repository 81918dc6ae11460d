"""Counter-based random numbers: every draw is a pure function of its key and timeline index.

A stream is identified by ``(seed, stream id)``, which is the 128-bit key of a Philox4x64 generator;
the stream's i-th double belongs to timeline i. Any slice of timelines can therefore be drawn on its
own (``advance`` jumps over whole counter blocks of four doubles), and a what-if world that asks for
the same key gets the same numbers as its factual twin.
"""

from __future__ import annotations

import numpy as np

EVENT_DRAW = 1
PARAMETER_DRAW = 2
POSTERIOR_ROW = 3
_BLOCK = 4  # doubles per Philox4x64 counter step


def stream_id(tag: int, month: int = 0, event: int = 0, slot: int = 0) -> int:
    """Pack a draw's identity into one 64-bit stream id (month as an offset from the start)."""
    if not (0 <= month < 2**24 and 0 <= event < 2**24 and 0 <= slot < 2**8):
        raise ValueError("draw key out of range")
    return (tag << 56) | (month << 32) | (event << 8) | slot


def uniforms(seed: int, stream: int, first: int, count: int) -> np.ndarray:
    """Return the doubles in [0, 1) of timelines ``first .. first + count - 1`` of a stream."""
    generator = np.random.Philox(key=np.array([seed, stream], dtype=np.uint64))
    generator.advance(first // _BLOCK)
    skip = first % _BLOCK
    return np.random.Generator(generator).random(count + skip)[skip:]


def uniform(seed: int, stream: int, timeline: int) -> float:
    """Return one timeline's double of a stream (the reference engine's way of drawing)."""
    return float(uniforms(seed, stream, timeline, 1)[0])
