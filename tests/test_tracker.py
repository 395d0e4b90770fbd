"""The W&B tracker, offline: the README's command as written, then what its run file holds (config, steps, rows, grids)."""
import json
import shlex
import struct
from pathlib import Path

from bench.cli import main

README = Path(__file__).resolve().parents[1] / "README.md"


def records(path: Path):
    """The protobuf records of a `.wandb` run file: a 7-byte header, then 32 KiB blocks of chunks
    (crc32, little-endian length, type: 1 full, 2 first, 3 middle, 4 last), the LevelDB log layout W&B writes."""
    from wandb.proto import wandb_internal_pb2 as pb

    data, pos, buf = path.read_bytes(), 7, b""
    assert data[:4] == b":W&B", data[:7]
    while pos + 7 <= len(data):
        if 32768 - pos % 32768 < 7:  # a block's tail too short for a chunk header is padding
            pos += 32768 - pos % 32768
            continue
        _, n, kind = struct.unpack("<IHB", data[pos:pos + 7])
        buf, pos = buf + data[pos + 7:pos + 7 + n], pos + 7 + n
        if kind in (1, 4):
            record = pb.Record()
            record.ParseFromString(buf)
            yield record
            buf = b""


def test_readme_sweep_logs_config_steps_rows_and_grids_offline(tmp_path, monkeypatch):
    section = README.read_text().split("### Tracking runs in Weights & Biases", 1)[1]
    (line,) = [x for x in section.split("```sh\n", 1)[1].split("```", 1)[0].splitlines() if x.strip()]
    argv = shlex.split(line)
    env = dict(a.split("=", 1) for a in argv[:2])
    assert env["WANDB_MODE"] == "offline" and argv[2:5] == ["python", "-m", "bench"]
    monkeypatch.chdir(tmp_path)
    for k, v in {**env, "WANDB_SILENT": "true"}.items():
        monkeypatch.setenv(k, v)
    assert main(argv[5:] + ["--quiet"]) == 0

    (run_file,) = (tmp_path / env["WANDB_DIR"]).glob("wandb/offline-run-*/run-*.wandb")
    config, history, kinds = {}, [], []
    for r in records(run_file):
        kind = r.WhichOneof("record_type")
        kinds.append(kind)
        if kind in ("run", "config"):  # the config comes with the run record, later updates as config records
            config.update({i.key: json.loads(i.value_json) for i in (r.run.config if kind == "run" else r.config).update})
        elif r.WhichOneof("record_type") == "history":
            history.append({i.key or "/".join(i.nested_key): json.loads(i.value_json) for i in r.history.item})
    sweep = json.loads((tmp_path / "out/u-wandb/config.json").read_text())
    assert {"arms", "judges", "scorers"} <= set(config), (sorted(config), kinds)
    assert config["arms"] == sweep["config"]["arms"] and config["judges"] == sweep["config"]["judges"]
    assert config["scorers"] == sweep["scorers"]

    steps = [h for h in history if "step/i" in h]
    assert [(h["cell/backend"], h["step/i"], h["step/guided"]) for h in steps] == [("none", 0, False), ("none", 1, False),
                                                                                    ("midu", 0, True), ("midu", 1, True)]
    assert all(isinstance(h["step/score_mean"], float) and h["step/grad_rms"] > 0 for h in steps[2:])
    grids = {k.rsplit("/", 1)[0]: h[k] for h in history for k in h if k.startswith("grid/") and k.endswith("/path")}
    assert sorted(grids) == ["grid/midu/s+1", "grid/none/s+0"]
    assert all((run_file.parent / "files" / p).stat().st_size > 0 for p in grids.values())

    (table,) = [h for h in history if h.get("rows/_type") == "table-file"]
    logged = json.loads((run_file.parent / "files" / table["rows/path"]).read_text())
    rows = [json.loads(x) for x in (tmp_path / "out/u-wandb/rows.jsonl").read_text().splitlines()]
    got = [dict(zip(logged["columns"], d)) for d in logged["data"]]
    assert [(g["backend"], g["seed"], g["judge_midblock"]) for g in got] == [(r["backend"], r["seed"], r["judge_midblock"]) for r in rows]
