"""Scalar building blocks of the compiled kernel: the keyed draw and the language's arithmetic.

Everything here is a Numba ``njit`` function of scalars (no allocation, no Python objects), so the
compiled kernel (``engine.interp``) inlines them, and a CUDA version of the kernel could use the
same definitions as device functions (only ``mulhi`` and ``float_bits`` are CPU intrinsics; CUDA
has ``cuda.mulhi`` and a bitcast of its own).

The draw is Philox4x64-10 (Salmon, Moraes, Dror and Shaw, "Parallel random numbers: as easy as
1, 2, 3", SC 2011), computed for one counter: the key is ``(seed, stream id)``, the counter is
``(timeline // 4 + 1, 0, 0, 0)`` and the timeline takes word ``timeline % 4`` of the result. That is
exactly the word NumPy's ``Philox(key=[seed, stream])`` stream gives as its ``timeline``-th output
(its counter is incremented before each block of four), and the double is ``(word >> 11) * 2**-53``
as in ``Generator.random``. So the compiled kernel, the NumPy kernel and the reference interpreter
draw the same numbers, and a draw costs one Philox block, computed only where it is needed.

Decorating functions compiles nothing: Numba compiles on first use (and caches on disk).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic

_M0 = np.uint64(0xD2E7470EE14C6C93)
_M1 = np.uint64(0xCA5A826395121157)
_W0 = np.uint64(0x9E3779B97F4A7C15)
_W1 = np.uint64(0xBB67AE8584CAA73B)
_ONE = np.uint64(1)
_FOUR = np.uint64(4)
_THREE = np.uint64(3)
_ZERO = np.uint64(0)
_SHIFT = np.uint64(11)
_UNIT = 1.0 / 9007199254740992.0  # 2**-53
NEVER_MONTHS = 9999.0
JIT: dict[str, Any] = {"cache": True, "_nrt": False}
"""Nothing here allocates: without reference counting, array arguments cost nothing to pass."""
Floats = np.ndarray  # float64 arrays
Ints = np.ndarray  # integer arrays
Words = np.ndarray  # uint64 arrays


def _mulhi(typingctx: object, a: types.Type, b: types.Type) -> object:  # pragma: no cover
    """The high 64 bits of the 128-bit product of two uint64 (one ``mul`` instruction)."""
    sig = types.uint64(types.uint64, types.uint64)

    def codegen(context: object, builder: ir.IRBuilder, signature: object, args: Any) -> Any:
        wide = ir.IntType(128)
        product = builder.mul(builder.zext(args[0], wide), builder.zext(args[1], wide))
        return builder.trunc(builder.lshr(product, ir.Constant(wide, 64)), ir.IntType(64))

    return sig, codegen


def _float_bits(typingctx: object, x: types.Type) -> object:  # pragma: no cover
    """The IEEE-754 bits of a float64 as a uint64 (as ``ndarray.view(np.uint64)``)."""
    sig = types.uint64(types.float64)

    def codegen(context: object, builder: ir.IRBuilder, signature: object, args: Any) -> Any:
        return builder.bitcast(args[0], ir.IntType(64))

    return sig, codegen


if TYPE_CHECKING:

    def mulhi(a: np.uint64, b: np.uint64) -> np.uint64: ...

    def float_bits(x: float) -> np.uint64: ...

else:
    mulhi = intrinsic(_mulhi)
    float_bits = intrinsic(_float_bits)


@njit(**JIT)
def philox_word(
    c0: np.uint64, k0: np.uint64, k1: np.uint64, word: np.uint64
) -> np.uint64:  # pragma: no cover
    """Word ``word`` of Philox4x64-10 of counter ``(c0, 0, 0, 0)`` under key ``(k0, k1)``."""
    c1 = _ZERO
    c2 = _ZERO
    c3 = _ZERO
    for _ in range(10):
        h0 = mulhi(_M0, c0)
        l0 = _M0 * c0
        h1 = mulhi(_M1, c2)
        l1 = _M1 * c2
        c0, c1, c2, c3 = h1 ^ c1 ^ k0, l1, h0 ^ c3 ^ k1, l0
        k0 = k0 + _W0
        k1 = k1 + _W1
    if word == 0:
        return c0
    if word == 1:
        return c1
    if word == 2:
        return c2
    return c3


@njit(**JIT)
def uniform(seed: np.uint64, stream: np.uint64, timeline: np.uint64) -> float:  # pragma: no cover
    """Timeline ``timeline``'s double in [0, 1) of stream ``(seed, stream)`` (``rng.uniform``)."""
    word = philox_word(timeline // _FOUR + _ONE, seed, stream, timeline & _THREE)
    return float(word >> _SHIFT) * _UNIT


@njit(**JIT)
def div(a: float, b: float) -> float:  # pragma: no cover
    """The language's ``/``: 0 where the divisor is 0."""
    return a / b if b != 0.0 else 0.0


@njit(**JIT)
def mod(a: float, b: float) -> float:  # pragma: no cover
    """The language's ``%``: NumPy's ``remainder`` (sign of the divisor), 0 where it is 0."""
    if b == 0.0:
        return 0.0
    rest = float(np.fmod(a, b))
    if rest != 0.0:
        if (b < 0.0) != (rest < 0.0):
            rest += b
    else:
        rest = math.copysign(0.0, b)
    return rest


@njit(**JIT)
def fmin(a: float, b: float) -> float:  # pragma: no cover
    """NumPy's ``minimum``: NaN if either is NaN."""
    if a != a or b != b:
        return math.nan
    return a if a <= b else b


@njit(**JIT)
def fmax(a: float, b: float) -> float:  # pragma: no cover
    """NumPy's ``maximum``: NaN if either is NaN."""
    if a != a or b != b:
        return math.nan
    return a if a >= b else b


@njit(**JIT)
def logistic(x: float) -> float:  # pragma: no cover
    """``1 / (1 + exp(-x))`` with the C library's ``exp`` (as SciPy's ``expit``)."""
    return 1.0 / (1.0 + math.exp(-x))


@njit(**JIT)
def since(last: int, month: int) -> float:  # pragma: no cover
    """``months_since``: months since the last firing, NEVER_MONTHS if it never fired."""
    return float(month - last) if last >= 0 else NEVER_MONTHS
