"""Which model a job runs, and on what: the part of every configuration that names the pipeline."""
from __future__ import annotations

from dataclasses import dataclass

from sdmodels.checks import check_runtime, check_source
from sdmodels.presets import get_preset


@dataclass(frozen=True)
class ModelSpec:
    source: str = "tiny"  # preset name, local diffusers folder, single-file checkpoint or hub id
    weights: str = "random"  # "pretrained" or "random" (the full architecture, no download)
    dtype: str = "fp32"
    device: str = "cpu"
    variant: str | None = None  # diffusers weights variant; None: the plain files, else fp16, else the only one
    config: str | None = None  # the preset describing a single-file checkpoint; None: inferred from its keys

    def check(self) -> None:
        """Names and device, before anything loads."""
        check_source(self.source, self.weights)
        check_runtime(self.device, self.dtype)
        if self.config is not None:
            get_preset(self.config)
