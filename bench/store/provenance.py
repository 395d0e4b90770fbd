"""Where a result came from: code version, packages, machine. Goes into every run's JSON."""
from __future__ import annotations

import importlib.metadata
import platform
import subprocess
from pathlib import Path

import torch

REPO_ROOT = Path(__file__).resolve().parents[2]  # the checkout this code runs from
PACKAGES = ("torch", "diffusers", "transformers", "open_clip_torch", "safetensors", "numpy")


def git_commit() -> str | None:
    """HEAD of the checkout this code runs from, with '+dirty' when the tree has changes."""
    root = REPO_ROOT
    try:
        head = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None
    return head + ("+dirty" if dirty else "")


def package_versions() -> dict[str, str | None]:
    out = {}
    for name in PACKAGES:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = None
    return out


def gpu_info() -> dict:
    """GPU name, driver and CUDA versions; empty when there is no CUDA device."""
    if not torch.cuda.is_available():
        return {}
    info = {
        "gpu_name": torch.cuda.get_device_name(),
        "gpu_capability": ".".join(map(str, torch.cuda.get_device_capability())),
        "gpu_mem_gib": round(torch.cuda.get_device_properties(0).total_memory / 2**30, 2),
        "cuda_version": torch.version.cuda,
        "cudnn_version": torch.backends.cudnn.version(),
    }
    import pynvml

    try:
        pynvml.nvmlInit()
        info["driver_version"] = pynvml.nvmlSystemGetDriverVersion()
        pynvml.nvmlShutdown()
    except pynvml.NVMLError as e:  # NVML missing in a container happens; say so rather than fail the run
        info["driver_version"] = f"unavailable ({e})"
    return info


def machine_info() -> dict:
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu_count": __import__("os").cpu_count(),
        "git_commit": git_commit(),
        **{f"{k}_version": v for k, v in package_versions().items()},
        **gpu_info(),
    }
