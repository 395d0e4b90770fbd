"""README's "Models and weights" commands run as written, on tiny stand-ins at the paths they name."""
import json
import shlex
from pathlib import Path

import torch

from bench.cli import main
from sdmodels import load_models, save_models, save_single_file

README = Path(__file__).resolve().parents[1] / "README.md"


def _commands() -> list[str]:
    section = README.read_text().split("## Models and weights", 1)[1].split("\n## ", 1)[0]
    block = section.split("```sh\n", 1)[1].split("```", 1)[0]
    return [line for line in block.splitlines() if line.startswith("python -m bench ")]


def test_models_and_weights_commands_run_as_written(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    half = load_models("tiny", "random", dtype=torch.float16, seed=0)
    save_models(half, "my-sd-folder", variant="fp16")  # only fp16 variant files, found without --variant
    save_single_file(load_models("tiny-sd21", "random", seed=0), "my-model.safetensors")
    commands = _commands()
    assert len(commands) == 2, commands
    layouts = []
    for line in commands:
        argv = shlex.split(line)[3:]
        assert main(argv) == 0, line
        out = argv[argv.index("--out") + 1]
        layouts.append(json.loads((tmp_path / out / "run.json").read_text())["model"])
    assert layouts[0]["layout"] == "diffusers" and layouts[0]["variants"]["unet"] == "fp16"
    assert layouts[1]["layout"] == "single-file" and layouts[1]["config_from"] == "tiny-sd21"
