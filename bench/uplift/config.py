"""The uplift sweep's configuration: one tree of the sampler's, guidance's, model's and scorers' own configs.

A sweep is a base configuration and a list of arms. An arm is a backend and the
fields it changes (`scale` for guided arms, with any `--knobs` per cell; any field of `SamplerConfig` or
`GuidanceConfig` may vary, e.g. `cfg_scale` or `window_start`), applied with
`dataclasses.replace`; a best-of-N draw is `none` with a `draw` index, sampled
from reserved seeds on the held-out pairs only (bench/uplift/seeds.py). Cells
are arms x prompts x chunks of seeds; every arm pairs with the reference arm
(`none`, nothing changed) at the same seed and prompt. The world, when one is
named, is resolved here and nowhere else.
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from itertools import product

from guidance import GuidanceConfig, SamplerConfig, check_backend, scorer_kind
from bench.uplift.seeds import DRAW_END, SEED_END, check_best_of
from scorers.setup import KINDS, ScorerConfig
from sdmodels import ModelSpec, check_scheduler

# the scorer kinds that judge every sweep; a kind added later (latent_x0) judges only the sweeps that guide with it or name a
# head for it, so the sweeps made before it keep their judges, rows and identities (bench/uplift/identity.py)
ALWAYS_JUDGED = ("midblock", "latent", "image")
SAMPLER_FIELDS = {f.name for f in fields(SamplerConfig)} - {"seed", "batch"}  # the sweep sets seeds and batches itself
GUIDANCE_FIELDS = {f.name for f in fields(GuidanceConfig)}
REFERENCE = "none"


@dataclass(frozen=True)
class Arm:
    backend: str
    set: tuple[tuple[str, object], ...] = ()  # (field, value) of SamplerConfig / GuidanceConfig, e.g. (("scale", 0.5),)
    draw: int = 0  # k >= 1: best-of-N draw k of the unguided sampler (left out of a sweep's identity at 0: bench/uplift/identity.py)

    def __post_init__(self):
        check_backend(self.backend)
        if not 0 <= self.draw < DRAW_END or (self.draw and (self.backend != REFERENCE or self.set)):
            raise ValueError(f"arm {self.backend} draw={self.draw}: a draw is the plain '{REFERENCE}' arm with 1 <= draw < {DRAW_END}")
        for name, _ in self.set:
            if name not in SAMPLER_FIELDS | GUIDANCE_FIELDS:
                raise ValueError(f"arm {self.backend}: {name!r} is not a sampler or guidance field; "
                                 f"expected one of {', '.join(sorted(SAMPLER_FIELDS | GUIDANCE_FIELDS))}")

    @property
    def label(self) -> str:
        return " ".join([self.backend, *(f"{k}={v:+g}" if isinstance(v, float) else f"{k}={v}" for k, v in self.set),
                         *([f"draw={self.draw}"] if self.draw else [])])

    @property
    def is_reference(self) -> bool:
        return self.backend == REFERENCE and not self.set and not self.draw


def judge_kinds(arms, heads=()) -> tuple[str, ...]:
    """The kinds of scorer that judge a sweep of `arms`: every one of ALWAYS_JUDGED, then each other kind that one of the
    arms' backends reads or that `heads` (kinds given a checkpoint) names."""
    wanted = {scorer_kind(a.backend) for a in arms} | set(heads)
    return (*ALWAYS_JUDGED, *(k for k in KINDS if k not in ALWAYS_JUDGED and k in wanted))


def make_arms(backends, scales, scales_by_backend=(), cfg_scales=(), best_of: int = 1, knobs=(), base=None) -> tuple[Arm, ...]:
    """`none` once, every guided backend at each of its scales (0 is `none` itself: not repeated) and each
    combination of `knobs` ((field, values) pairs, e.g. (("every_k", (1, 4)),)), a CFG-only arm (`none` at another
    `cfg_scale`) for each of `cfg_scales`, and draws 1..best_of-1 for best-of-N. A knob at its `base` value
    ({field: value}, the sweep's base configuration) is left out of the arm, so that arm is the plain one."""
    check_best_of(best_of)
    per, base = dict(scales_by_backend), dict(base or {})
    combos = [tuple((k, v) for k, v in zip([k for k, _ in knobs], c) if k not in base or base[k] != v)
              for c in product(*[vs for _, vs in knobs])]
    # reuse_grad re-applies the update on the steps every_k skips: at every_k=1 none are, so that arm is the plain one
    combos = [c for c in combos if not (dict(c).get("reuse_grad") and dict(c).get("every_k", base.get("every_k", 1)) == 1)]
    arms = []
    for b in backends:
        check_backend(b)
        if b == REFERENCE:
            arms.append(Arm(b))
            continue
        arms += [Arm(b, (("scale", float(s)), *c)) for s in per.get(b, scales) if s != 0.0 for c in combos]
    arms += [Arm(REFERENCE, (("cfg_scale", float(c)),)) for c in cfg_scales]
    return tuple(arms) + tuple(Arm(REFERENCE, draw=k) for k in range(1, best_of))


@dataclass(frozen=True)
class UpliftConfig:
    prompts: tuple[str, ...]
    model: ModelSpec = field(default_factory=ModelSpec)
    sampler: SamplerConfig = field(default_factory=lambda: SamplerConfig(steps=25, cfg_scale=5.0))
    guidance: GuidanceConfig = field(default_factory=GuidanceConfig)  # the base; each arm sets its own scale
    judges: tuple[ScorerConfig, ...] = tuple(ScorerConfig(k) for k in ALWAYS_JUDGED)  # every sample is judged by each; a backend is guided by its kind's
    arms: tuple[Arm, ...] = make_arms(("none", "latent", "midu", "pixel"), (-1.0, 1.0))
    seeds: int = 8
    seed0: int = 0
    chunk: int = 16  # seeds per sampling call
    grid_seeds: int = 4  # seeds whose images are kept, for the grids
    world: str | None = None  # "toy": add the world's ground-truth and caption judges

    def __post_init__(self):
        if not any(a.is_reference for a in self.arms):
            raise ValueError("the uplift sweep needs the 'none' backend: every guided sample pairs with its unguided one")
        if len({a.label for a in self.arms}) != len(self.arms):
            raise ValueError("two arms of the sweep are the same: " + ", ".join(a.label for a in self.arms))
        if self.seeds < 1 or self.chunk < 1:
            raise ValueError(f"seeds={self.seeds}, chunk={self.chunk}: expected integers >= 1")
        if self.seed0 < 0 or self.seed0 + self.seeds > SEED_END:
            raise ValueError(f"seeds {self.seed0}..{self.seed0 + self.seeds - 1}: expected them within [0, 2**24) (best-of-N draws use seeds above)")
        if self.seeds < 2 and any(a.draw for a in self.arms):
            raise ValueError(f"seeds={self.seeds}: best-of-N draws need at least 2 (they are made for the held-out half)")
        if not self.prompts:
            raise ValueError("expected at least one prompt")
        if self.sampler.seed != 0 or self.sampler.batch != 1:
            raise ValueError("the sweep sets seeds and batches itself: use seeds, seed0 and chunk")
        if self.guidance.scale != 0.0:
            raise ValueError("the base guidance scale must be 0: each arm sets its own")
        kinds = [j.kind for j in self.judges]
        if len(set(kinds)) != len(kinds) or not set(kinds) <= set(KINDS):
            raise ValueError(f"judges {kinds}: expected at most one scorer of each kind ({', '.join(KINDS)})")
        check_scheduler(self.sampler.scheduler)
        for arm in self.arms:
            if scorer_kind(arm.backend) not in (None, *kinds):  # its guide is the judge of its kind
                raise ValueError(f"arm {arm.label}: its scorer reads {scorer_kind(arm.backend)}, but the sweep has no judge of that kind "
                                 f"(judges: {', '.join(kinds)}); add ScorerConfig({scorer_kind(arm.backend)!r}) to judges")
            sampler, guidance = self.arm_configs(arm)  # every arm's fields must make valid configs
            check_scheduler(sampler.scheduler, guidance.recurrence)

    def arm_configs(self, arm: Arm) -> tuple[SamplerConfig, GuidanceConfig]:
        """The sampler and guidance configurations one arm runs with."""
        s = replace(self.sampler, **{k: v for k, v in arm.set if k in SAMPLER_FIELDS})
        g = replace(self.guidance, **{k: v for k, v in arm.set if k in GUIDANCE_FIELDS})
        return s, g

    def scorer(self, kind: str | None) -> ScorerConfig | None:
        """The judge of `kind`, which also guides the backends that read that kind."""
        return next((j for j in self.judges if j.kind == kind), None)

    def guide(self, backend: str) -> ScorerConfig | None:
        return self.scorer(scorer_kind(backend))
