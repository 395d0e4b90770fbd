"""The backend registry's entries, importable without torch: each backend's module, options and scorer kind.

A backend's code is imported when it is built, so the CLI can list backends (and
answer `--help`) without importing torch.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field


@dataclass(frozen=True)
class BackendSpec:
    """A backend's facts, once: where its builder is and what its scorer reads.

    `module` is a module of this package whose `build(models, scorer, name=..., **options)`
    returns the backend; `scorer` is None (no scorer), "midblock", "latent" or "image".
    A backend's own judge in a sweep is the scorer of that kind (`judge_<scorer>`).
    """

    module: str
    scorer: str | None
    options: dict = field(default_factory=dict)

    def build(self, models, scorer, name: str):
        return importlib.import_module(f"guidance.{self.module}").build(models, scorer, name=name, **self.options)
