"""A user's own backend joins without editing the package: the README's example, installed as a package, end to end.

The example's module and pyproject are taken from the README as written, pip
installs them into a folder of their own, and with that folder on the path (as
an installed package is; entry points are read from its metadata there) the
command line runs the sampler (by entry point, and as module:attribute), the
cost model, the cost run, an uplift sweep and both reports on the tiny preset.
"""
import csv
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from bench.cli import main
from guidance import plugin_names
from guidance.registry import load_plugin

ROOT = Path(__file__).resolve().parents[1]
NAME = "late-latent"

def commands(o: str) -> list[list[str]]:
    tiny = ["--model", "tiny"]
    return [
        ["sample", *tiny, "--backend", NAME, "--scale", "2", "--steps", "3", "--quiet", "--out", o + "/sample"],
        ["sample", *tiny, "--backend", "my_guidance:SPEC", "--scale", "2", "--steps", "3", "--recurrence", "2", "--quiet",
         "--out", o + "/sample-attr"],
        ["costmodel", "--models", "tiny", "--backends", NAME, "--batches", "1", "--out", o + "/results/costmodel"],
        ["cost-run", *tiny, "--backends", NAME, "--warmup", "0", "--rounds", "1", "--steps", "1", "--profile-steps", "0",
         "--out", o + "/results/timing/cpu-tiny"],
        ["report", "--results", o + "/results", "--reports", o + "/reports"],
        ["uplift", *tiny, "--backends", "none", NAME, "--scales", "2", "--prompt", "a red circle", "--seeds", "2",
         "--steps", "2", "--quiet", "--out", o + "/sweep"],
        ["uplift-report", "--sweep", o + "/sweep", "--out", o + "/reports/uplift.md"],
    ]


def readme_example() -> tuple[str, str]:
    section = (ROOT / "README.md").read_text().split("## Your own backend\n", 1)[1].split("\n## ", 1)[0]
    (module,) = re.findall(r"```python\n(.*?)```", section, re.S)
    (pyproject,) = re.findall(r"```toml\n(.*?)```", section, re.S)
    return module, pyproject


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("plugin")
    module, pyproject = readme_example()
    pkg = tmp / "my-guidance"
    pkg.mkdir()
    (pkg / "my_guidance.py").write_text(module)
    (pkg / "pyproject.toml").write_text(pyproject)
    site = tmp / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation", "--no-index",
                    "--target", str(site), str(pkg)], check=True, capture_output=True, text=True)
    return site


@pytest.fixture
def on_path(installed, monkeypatch):
    monkeypatch.syspath_prepend(str(installed))
    yield installed
    sys.modules.pop("my_guidance", None)
    load_plugin.cache_clear()


def test_the_readme_plugin_runs_through_every_part_of_the_harness(on_path, tmp_path, tiny_models):
    assert NAME in plugin_names()
    for args in commands(str(tmp_path)):
        assert main(args) == 0, args
    by_entry_point = json.loads((tmp_path / "sample" / "run.json").read_text())
    assert by_entry_point["ran_as"] == NAME and by_entry_point["scorer"]["kind"] == "latent"
    ab = tiny_models.scheduler("ddim").alphas_cumprod
    guided = [s["guided"] for s in by_entry_point["steps"]]
    assert guided == [float(ab[int(s["t"])]) >= 0.2 for s in by_entry_point["steps"]] and 0 < sum(guided) < 3  # its option
    by_attribute = json.loads((tmp_path / "sample-attr" / "run.json").read_text())
    assert by_attribute["ran_as"] == "my_guidance:SPEC"
    assert [s["calls"] for s in by_attribute["steps"]] == [2 if g else 1 for g in guided]  # redone where it guided
    with open(tmp_path / "results" / "costmodel" / "costmodel.csv", newline="") as f:
        cm = {row["backend"]: row for row in csv.DictReader(f)}
    assert float(cm[NAME]["head_bwd_flops"]) > 0 and float(cm[NAME]["unet_up_bwd_flops"]) == 0  # its gradient: the head alone
    with open(tmp_path / "results" / "timing" / "cpu-tiny" / "steps.csv", newline="") as f:
        assert NAME in {row["backend"] for row in csv.DictReader(f)}
    assert NAME in (tmp_path / "reports" / "cost.md").read_text()
    rows = [json.loads(line) for line in (tmp_path / "sweep" / "rows.jsonl").read_text().splitlines()]
    assert {r["backend"] for r in rows} == {"none", NAME} and all(r["status"] == "ok" for r in rows)
    assert f"| {NAME} |" in (tmp_path / "reports" / "uplift.md").read_text()


@pytest.mark.parametrize("name, message", [
    ("no_such_module:SPEC", "backend 'no_such_module:SPEC': cannot load 'SPEC' from module 'no_such_module'"),
    ("guidance.config:GRAD_NORMS", "backend 'guidance.config:GRAD_NORMS' is a tuple: expected a guidance.BackendSpec"),
])
def test_a_bad_module_attribute_is_one_line(name, message, tmp_path, capsys):
    assert main(["sample", "--backend", name, "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err
