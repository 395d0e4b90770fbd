"""A sample's FLOPs: guided steps cost their backend call times recurrence x iterations; 1 and 1 is steps x the call."""
import csv

import pytest

from bench.cli import main
from bench.costmodel.sample import guided_step_flops, sample_flops, sample_rows
from guidance import GuidanceConfig


def _rows():
    base = {"model": "m", "batch": 1, "height": 64, "width": 64, "dtype": "fp16", "attention": "fused", "weights": "random"}
    return [{**base, "backend": "none", "total_flops": 10.0}, {**base, "backend": "midu", "total_flops": 12.0},
            {**base, "backend": "pixel", "total_flops": 55.0}]


def test_default_knobs_give_steps_times_the_call_and_the_step_ratio():
    rows = sample_rows(_rows(), 20, GuidanceConfig(scale=1.0))
    assert [(r["backend"], r["sample_flops"], r["sample_flops_ratio"], r["calls"]) for r in rows] == [
        ("none", 200.0, 1.0, 20), ("midu", 240.0, 1.2, 20), ("pixel", 1100.0, 5.5, 20)]


@pytest.mark.parametrize("recurrence, iterations", [(1, 1), (2, 1), (1, 3), (3, 2)])
def test_knobs_multiply_the_guided_steps_only(recurrence, iterations):
    g = GuidanceConfig(scale=1.0, window_start=0.3, recurrence=recurrence, iterations=iterations)
    n_guided = sum(g.active(i, 10) for i in range(10))
    assert n_guided == 7
    flops, guided, calls = sample_flops(12.0, 10.0, 10, g)
    assert flops == 3 * 10.0 + 7 * 12.0 * recurrence * iterations == 3 * 10.0 + 7 * guided_step_flops(12.0, g)
    assert (guided, calls) == (7, 3 + 7 * recurrence * iterations)
    assert sample_flops(10.0, 10.0, 10, g, guided=False) == (100.0, 0, 10)  # `none` takes no gradient: nothing is redone


def test_cli_writes_the_sample_csv_only_when_asked(tmp_path):
    out = tmp_path / "cm"
    args = ["costmodel", "--models", "tiny", "--backends", "latent", "--batches", "1", "--out", str(out)]
    assert main(args) == 0
    assert not (out / "costmodel_sample.csv").exists()
    assert main(args + ["--sample-steps", "10", "--window", "0.5", "1", "--recurrence", "2", "--iterations", "2"]) == 0
    with open(out / "costmodel.csv", newline="") as f:
        step = {r["backend"]: float(r["total_flops"]) for r in csv.DictReader(f)}
    with open(out / "costmodel_sample.csv", newline="") as f:
        rows = {r["backend"]: r for r in csv.DictReader(f)}
    assert float(rows["latent"]["sample_flops"]) == 5 * step["none"] + 5 * 4 * step["latent"]
    assert (rows["latent"]["recurrence"], rows["latent"]["iterations"], rows["latent"]["calls"]) == ("2", "2", "25")
    assert float(rows["none"]["sample_flops"]) == 10 * step["none"]
