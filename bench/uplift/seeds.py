"""Which seeds a sweep samples: its own, split into a calibration and a held-out half, and the reserved seeds of best-of-N draws.

A sweep's seeds lie in [0, 2**24) (`UpliftConfig` checks). The first half of
them (sorted) chooses each backend's scale, the second half measures it. Draw
k (1 <= k < 128) of a held-out pair with seed s samples its noise from seed
2**31 + k * 2**24 + s: each (seed, k) has its own seed, every one of them in
[2**31 + 2**24, 2**32), outside any sweep's range. The mapping stays within 32
bits because torch's CPU generator (Mersenne Twister) reads only a seed's low
32 bits: k * 2**32 + s would give the pair's own noise again.
Draws are made for the held-out seeds only: best-of-N has no setting for the
calibration seeds to choose, so the extra cost is (N - 1) unguided samples
per held-out pair.
"""
from __future__ import annotations

from typing import Iterable

SEED_END = 2**24  # sweep seeds lie below
DRAW_END = 2**7  # draw indices lie below: best-of-N up to N = 128
DRAW_BASE = 2**31  # draw seeds lie in [DRAW_BASE + SEED_END, DRAW_BASE + DRAW_END * SEED_END) = [2**31 + 2**24, 2**32)


def halves(seeds: Iterable[int]) -> tuple[list[int], list[int]]:
    """(calibration seeds, held-out seeds): the first and second half of the sorted distinct seeds."""
    s = sorted(set(seeds))
    half = len(s) // 2
    if half == 0:
        raise ValueError("need at least two seeds to choose a scale on some and measure it on others")
    return s[:half], s[half:]


def draw_seed(seed: int, k: int) -> int:
    """The noise seed of draw `k` (>= 1) for the pair of sweep seed `seed`."""
    if not 0 <= seed < SEED_END or not 1 <= k < DRAW_END:
        raise ValueError(f"draw {k} of seed {seed}: expected 0 <= seed < 2**24 and 1 <= draw < 128")
    return DRAW_BASE + k * SEED_END + seed


def check_best_of(n: int) -> None:
    """N of best-of-N: a power of two (the curve is read at N = 1, 2, 4, ...); 1 makes no draws."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1 or n & (n - 1) or n > DRAW_END:
        raise ValueError(f"best_of={n}: expected a power of two from 1 to {DRAW_END} (1, 2, 4, 8, ...; 1 makes no draws)")


def curve_ns(best_of: int) -> list[int]:
    """The N at which the best-of-N curve is read: 1, 2, 4, ..., best_of."""
    check_best_of(best_of)
    return [2**i for i in range(best_of.bit_length())]
