"""The recurrence and iteration knobs through the harness: run.json, the sweep's identity, the scheduler facts."""
import json
from dataclasses import replace

import pytest

from bench.cli import main
from bench.uplift.config import UpliftConfig
from bench.uplift.identity import ADDED_LATER, identity
from guidance import GuidanceConfig
from sdmodels import SCHEDULERS
from sdmodels.checks import MULTISTEP


def test_sample_records_both_knobs_and_counts_the_calls(tmp_path):
    out = tmp_path / "s"
    assert main(["sample", "--model", "tiny", "--backend", "latent", "--scale", "1", "--steps", "4", "--window", "0.5", "1",
                 "--recurrence", "2", "--iterations", "3", "--quiet", "--out", str(out)]) == 0
    rec = json.loads((out / "run.json").read_text())
    assert rec["job"]["guidance"]["recurrence"] == 2 and rec["job"]["guidance"]["iterations"] == 3
    assert [s["calls"] for s in rec["steps"]] == [1, 1, 6, 6]
    assert [s["updates"] for s in rec["steps"]] == [0, 0, 6, 6]


def test_default_knobs_stay_out_of_a_sweeps_identity_and_set_ones_are_in_it():
    base = UpliftConfig(prompts=("a cat",))
    plain = identity(base)["config"]["guidance"]
    assert not set(ADDED_LATER["guidance"]) & set(plain)
    assert set(plain) | set(ADDED_LATER["guidance"]) == set(GuidanceConfig.__dataclass_fields__)
    redone = identity(replace(base, guidance=GuidanceConfig(recurrence=2)))["config"]["guidance"]
    assert redone == {**plain, "recurrence": 2}


@pytest.mark.parametrize("name", list(SCHEDULERS))
def test_the_multistep_list_is_what_the_sampler_checks(tiny_models, name):
    """sdmodels refuses recurrence by name before models load; the sampler by the scheduler's own history of outputs."""
    assert (name in MULTISTEP) == hasattr(tiny_models.scheduler(name), "model_outputs")


def test_a_sweep_records_the_knobs_in_its_rows_and_identity(tmp_path):
    from bench.uplift.analysis import NOT_JUDGES, samples

    out = tmp_path / "sweep"
    assert main(["uplift", "--model", "tiny", "--backends", "none", "latent", "--scales", "1", "--prompt", "a red circle",
                 "--seeds", "1", "--steps", "2", "--recurrence", "2", "--iterations", "2", "--quiet", "--out", str(out)]) == 0
    rows = {r["backend"]: r for r in map(json.loads, (out / "rows.jsonl").read_text().splitlines())}
    assert rows["latent"]["backend_calls"] == 2 * 4 and rows["none"]["backend_calls"] == 2  # `none` takes no gradient
    assert all(r["guided_recurrence"] == 2 and r["guided_iterations"] == 2 for r in rows.values())
    config = json.loads((out / "config.json").read_text())["config"]["guidance"]
    assert (config["recurrence"], config["iterations"]) == (2, 2)
    assert {"backend_calls", "guided_recurrence", "guided_iterations"} <= NOT_JUDGES
    assert set(samples(out / "rows.jsonl").arm) == {"none", "latent scale=+1"}
