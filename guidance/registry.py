"""The backend registry's entries, importable without torch: each backend's module, options and scorer kind.

A backend's code is imported when it is built, so the CLI can list backends (and
answer `--help`) without importing torch. A user's own backend joins without
editing this package: a `BackendSpec` named by an entry point of the
`guidance_bench.backends` group, or on the command line as `module:attribute`
(loaded on first use, never at import).
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from functools import cache
from importlib.metadata import entry_points

GROUP = "guidance_bench.backends"
SCORER_KINDS = (None, "midblock", "latent", "image", "latent_x0")  # what a backend's scorer reads (scorers.setup.KINDS, and none)
HEAD_KINDS = tuple(k for k in SCORER_KINDS if k not in (None, "image"))  # those a head checkpoint reads (not decoded images)


@dataclass(frozen=True)
class BackendSpec:
    """A backend's facts, once: where its builder is and what its scorer reads.

    `module` is an importable module whose `build(models, scorer, name=..., **options)`
    returns the backend; `scorer` is None (no scorer), "midblock", "latent" (noisy latents), "image" or
    "latent_x0" (clean latents: a head trained on un-noised latents, read at the x0 estimate).
    A backend's own judge in a sweep is the scorer of that kind (`judge_<scorer>`).
    """

    module: str
    scorer: str | None
    options: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.scorer not in SCORER_KINDS:
            raise ValueError(f"backend module {self.module}: scorer={self.scorer!r}; expected one of {SCORER_KINDS}")

    def build(self, models, scorer, name: str):
        return importlib.import_module(self.module).build(models, scorer, name=name, **self.options)


def plugin_names() -> list[str]:
    """Names of the installed entry-point backends (read from package metadata: nothing is imported)."""
    return sorted(ep.name for ep in entry_points(group=GROUP))


@cache
def load_plugin(name: str) -> BackendSpec | None:
    """The spec an installed entry point `name` or a `module:attribute` name points to; None if `name` is neither."""
    found = entry_points(group=GROUP, name=name)
    if found:
        spec, where = next(iter(found)).load(), f"entry point {name!r} ({next(iter(found)).value})"
    elif ":" in name:
        module, _, attr = name.partition(":")
        try:
            spec = getattr(importlib.import_module(module), attr)
        except (ImportError, AttributeError) as e:
            raise ValueError(f"backend {name!r}: cannot load {attr!r} from module {module!r} ({e})") from None
        where = f"backend {name!r}"
    else:
        return None
    if not isinstance(spec, BackendSpec):
        raise ValueError(f"{where} is a {type(spec).__name__}: expected a guidance.BackendSpec")
    return spec
