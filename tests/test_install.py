"""Installable: pyproject declares the `guidance-bench` command and packages the toy weights; without them `demo` says where."""
import importlib
import tomllib
from pathlib import Path

import bench.jobs.demo_toy
from bench.cli import main

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_console_script_is_the_module_cli():
    target = PYPROJECT["project"]["scripts"]["guidance-bench"]
    module, _, attr = target.partition(":")
    assert getattr(importlib.import_module(module), attr) is main  # what `python -m bench` runs (bench/__main__.py)


def test_package_data_covers_every_toy_weight_file():
    """Every committed file under toyworld/weights matches one of toyworld's package-data globs (setuptools' glob)."""
    patterns = PYPROJECT["tool"]["setuptools"]["package-data"]["toyworld"]
    base = ROOT / "toyworld"
    files = {p for p in (base / "weights").rglob("*") if p.is_file()}
    covered = {p for pat in patterns for p in base.glob(pat) if p.is_file()}
    assert files and files == covered, sorted(str(p.relative_to(base)) for p in files - covered)
    assert "toyworld" in PYPROJECT["tool"]["setuptools"]["packages"]


def test_demo_without_toy_weights_says_where_and_how_in_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(bench.jobs.demo_toy, "TOY_WEIGHTS", tmp_path / "site-packages" / "toyworld" / "weights")
    assert main(["demo", "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert f"expected {tmp_path / 'site-packages' / 'toyworld' / 'weights' / 'ldm' / 'unet'}" in err
    assert "pip install ." in err and "make toyworld" in err
    assert not (tmp_path / "out").exists()
