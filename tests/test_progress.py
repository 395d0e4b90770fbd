"""Progress bars: on a terminal they show counts (and a running loss in training); off with --quiet or off a terminal.

The head trainer also keeps its loss curve: `<out>.loss.csv` beside the head.
"""
import csv
import io
import sys

import pytest

from bench.store.rows import RowStore
from bench.store.sweep import run_sweep
from scorers import load_head
from scorers.train import main as train_main
from tests.test_scorers_train import write_synthetic


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def as_terminal(monkeypatch) -> Terminal:
    """stderr as a terminal, so tqdm's auto-off (disable=None) keeps the bar on.

    Called in the test body: pytest's capture puts its own sys.stderr back between fixture set-up and the test.
    """
    fake = Terminal()
    monkeypatch.setattr(sys, "stderr", fake)
    return fake


def _sweep(tmp_path, name, **kw):
    return run_sweep([{"i": i} for i in range(3)], lambda c: {"v": c["i"]}, RowStore(tmp_path / f"{name}.jsonl"), **kw)


def test_sweep_bar_counts_cells_on_a_terminal_and_is_quiet_otherwise(tmp_path, monkeypatch):
    terminal = as_terminal(monkeypatch)
    _sweep(tmp_path, "tty")
    assert "sweep" in terminal.getvalue() and "3/3" in terminal.getvalue() and "cell" in terminal.getvalue()
    terminal.seek(0), terminal.truncate()
    _sweep(tmp_path, "quiet", progress=False)
    assert terminal.getvalue() == ""


def test_sweep_bar_is_off_when_stderr_is_not_a_terminal(tmp_path, capsys):
    _sweep(tmp_path, "pipe")
    assert capsys.readouterr().err == ""


def test_sample_bar_follows_the_sampler_steps(tiny_models, tmp_path, monkeypatch):
    terminal = as_terminal(monkeypatch)
    from bench.jobs.sample import SampleJob, run
    from guidance import GuidanceConfig, SamplerConfig

    job = SampleJob(prompts=("a red circle",), out=str(tmp_path / "s"), backend="midu",
                    sampler=SamplerConfig(steps=3), guidance=GuidanceConfig(scale=1.0))
    run(job, tiny_models)
    assert "sample midu" in terminal.getvalue() and "3/3" in terminal.getvalue() and "score=" in terminal.getvalue()
    terminal.seek(0), terminal.truncate()
    run(job, tiny_models, progress=False)
    assert terminal.getvalue() == ""


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    return write_synthetic(tmp_path_factory.mktemp("synthetic"), n_images=60)


def test_training_writes_its_loss_curve_beside_the_head(synthetic, tmp_path, capsys):
    stem = tmp_path / "heads" / "h"
    assert train_main(["--features", str(synthetic), "--out", str(stem), "--batch", "16", "--epochs", "2", "--quiet"]) == 0
    assert capsys.readouterr().err == ""
    _, meta = load_head(stem)
    with open(tmp_path / "heads" / "h.loss.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert meta.extra["loss_curve"] == "h.loss.csv"
    assert [int(r["step"]) for r in rows] == list(range(1, meta.extra["metrics"]["steps"] + 1))
    assert {r["epoch"] for r in rows} == {"0", "1"} and all(float(r["lr"]) > 0 for r in rows)
    assert float(rows[0]["loss"]) == pytest.approx(meta.extra["metrics"]["train_loss_first"])
    assert float(rows[-1]["loss"]) == pytest.approx(meta.extra["metrics"]["train_loss_last"])


def test_training_bar_shows_the_running_loss_unless_quiet(synthetic, tmp_path, monkeypatch):
    terminal = as_terminal(monkeypatch)
    assert train_main(["--features", str(synthetic), "--out", str(tmp_path / "a"), "--batch", "16"]) == 0
    assert "train midblock head" in terminal.getvalue() and "loss=" in terminal.getvalue()
    terminal.seek(0), terminal.truncate()
    assert train_main(["--features", str(synthetic), "--out", str(tmp_path / "b"), "--batch", "16", "--quiet"]) == 0
    assert terminal.getvalue() == ""
