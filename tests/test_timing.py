"""Step clocks, interleaved rounds and their statistics (no timing is asserted: a fake clock counts calls)."""
import numpy as np
import pytest

from bench.cost.timing import CpuClock, TimingConfig, interleaved_rounds, make_clock, ratio_stats, summary


class FakeClock:
    """Returns preset step times and records which function ran when."""

    name = "fake"

    def __init__(self, ms: dict[str, float]):
        self.ms, self.order, self.syncs = ms, [], 0

    def block(self, fn, n):
        name = fn()
        self.order.append(name)
        return [self.ms[name]] * n

    def sync(self):
        self.syncs += 1


def test_summary_median_iqr_and_round_spread():
    s = summary([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    assert s["step_ms"] == 3.5
    assert s["step_ms_iqr"] == pytest.approx(np.quantile(range(1, 7), 0.75) - np.quantile(range(1, 7), 0.25))
    assert (s["round_ms_lo"], s["round_ms_hi"], s["n_steps"], s["n_rounds"]) == (2.0, 5.0, 6, 2)


def test_ratio_is_the_median_of_per_round_ratios():
    # the machine slows down 2x in round 2: per-round ratios stay 1.5, a ratio of pooled medians would not
    ref = [[10.0, 10.0], [20.0, 20.0], [10.0, 10.0]]
    a = [[15.0, 15.0], [30.0, 30.0], [16.0, 16.0]]
    assert ratio_stats(a, ref) == pytest.approx((1.5, 1.5, 1.6))
    with pytest.raises(ValueError, match="same rounds"):
        ratio_stats(a[:2], ref)


def test_rounds_are_interleaved_and_rotated():
    names = ["none", "midu", "pixel"]
    fns = {n: (lambda n=n: n) for n in names}
    clock = FakeClock({"none": 10.0, "midu": 14.0, "pixel": 100.0})
    times = interleaved_rounds(fns, TimingConfig(warmup=2, rounds=3, steps=4), clock)
    # warm-up calls go through the functions directly, then each round runs every backend once, rotated
    assert clock.order == ["none", "midu", "pixel", "midu", "pixel", "none", "pixel", "none", "midu"]
    assert clock.syncs == 1
    assert {n: len(r) for n, r in times.items()} == {"none": 3, "midu": 3, "pixel": 3}
    assert times["midu"][0] == [14.0] * 4
    assert ratio_stats(times["pixel"], times["none"]) == (10.0, 10.0, 10.0)


def test_cpu_clock_times_each_call():
    calls = []
    times = CpuClock().block(lambda: calls.append(1), 3)
    assert len(times) == 3 and len(calls) == 3 and all(t >= 0 for t in times)


def test_bad_clock_and_config_fail_loudly():
    with pytest.raises(ValueError, match="no step clock for device 'meta'"):
        make_clock("meta")
    with pytest.raises(ValueError, match="rounds=0"):
        TimingConfig(rounds=0)
    with pytest.raises(ValueError, match="warmup=-1"):
        TimingConfig(warmup=-1)
    with pytest.raises(ValueError, match="at least one"):
        interleaved_rounds({}, TimingConfig(), FakeClock({}))
