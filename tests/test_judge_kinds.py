"""Which scorers judge a sweep: the three every sweep has, and latent_x0 only where a backend reads it or its head is named."""
import pytest

from bench.uplift.config import ALWAYS_JUDGED, Arm, UpliftConfig, make_arms
from bench.uplift.resolve import resolve_config
from guidance import SamplerConfig
from scorers.setup import ScorerConfig


def kinds(cfg):
    return tuple(j.kind for j in cfg.judges)


def test_sweeps_without_latent_x0_keep_their_three_judges():
    """Sweeps made before latent_x0 existed had these judges in this order: their identities must not change."""
    assert ALWAYS_JUDGED == ("midblock", "latent", "image")
    for world in (None, "toy"):
        cfg = resolve_config(world, arms=make_arms(("none", "midu", "latent", "pixel"), (0.05,)))
        assert kinds(cfg) == ALWAYS_JUDGED
    assert kinds(UpliftConfig(prompts=("a",))) == ALWAYS_JUDGED


def test_latent_x0_judges_where_a_backend_reads_it_or_its_head_is_named():
    toy = resolve_config("toy", arms=make_arms(("none", "latent-x0"), (0.05,)))
    assert kinds(toy) == (*ALWAYS_JUDGED, "latent_x0")
    assert toy.guide("latent-x0").head.endswith("toyworld/weights/heads/latent_x0")
    assert toy.guide("latent").head.endswith("toyworld/weights/heads/latent")  # the noised head stays latent's
    named = resolve_config(None, arms=make_arms(("none", "midu"), (1.0,)), heads={"latent_x0": "heads/x0"})
    assert kinds(named) == (*ALWAYS_JUDGED, "latent_x0") and named.scorer("latent_x0").head == "heads/x0"


def test_an_arm_without_a_judge_of_its_kind_is_refused():
    with pytest.raises(ValueError, match="arm latent-x0 scale=\\+1: its scorer reads latent_x0, but the sweep has no judge of that kind"):
        UpliftConfig(prompts=("a",), arms=make_arms(("none", "latent-x0"), (1.0,)))


def test_a_tiny_sweep_guides_and_judges_with_latent_x0(tmp_path):
    from bench.uplift.analysis import samples
    from bench.uplift.run import run_uplift

    judges = tuple(ScorerConfig(k) for k in (*ALWAYS_JUDGED, "latent_x0"))
    cfg = UpliftConfig(prompts=("a",), arms=(Arm("none"), Arm("latent-x0", (("scale", 1.0),))), seeds=2, chunk=2,
                       sampler=SamplerConfig(steps=2), judges=judges)
    run_uplift(cfg, tmp_path, log=lambda s: None, progress=False)
    df = samples(tmp_path / "rows.jsonl")
    assert set(df.backend) == {"none", "latent-x0"} and df.judge_latent_x0.notna().all()
    guided, plain = (df[df.backend == b].sort_values("seed").judge_latent_x0.to_numpy() for b in ("latent-x0", "none"))
    assert (guided > plain).all()  # its own judge, the head on the finished sample's clean latents, rises
