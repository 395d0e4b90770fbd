"""The cost model: exact FLOPs and saved bytes, the same on meta as on real tensors, attributed to the right parts."""
import csv
import json

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from bench.cli import main
from bench.costmodel.count import COLUMNS, PART_COLUMNS, model_rows
from bench.costmodel.flops import PARTS, FlopCounter, PartTracker, attention_kernel
from bench.costmodel.saved_bytes import SavedBytes, model_state
from guidance import BACKENDS

ALL = list(BACKENDS)


def count(fn, parts, state=(), attention="fused", device="cpu"):
    tracker = PartTracker(parts)
    counter, saved = FlopCounter(tracker), SavedBytes(tracker, state)
    with attention_kernel(attention, device), tracker, counter, saved.hooks():
        fn()
    return counter, saved


def test_frozen_weights_input_gradient_only_charged_to_the_part_that_made_the_node():
    first, second = nn.Linear(8, 16, bias=False), nn.Linear(16, 4, bias=False)
    net = nn.Sequential(first, nn.ReLU(), second).requires_grad_(False)
    x = torch.randn(3, 8, requires_grad=True)
    counter, _ = count(lambda: torch.autograd.grad(net(x).sum(), x), {first: "unet_down_mid", second: "head"})
    assert counter.flops("fwd", "unet_down_mid") == 2 * 3 * 8 * 16
    assert counter.flops("fwd", "head") == 2 * 3 * 16 * 4
    # grad_input alone: one matmul per layer, as large as its forward; no weight gradients
    assert counter.flops("bwd", "unet_down_mid") == 2 * 3 * 8 * 16
    assert counter.flops("bwd", "head") == 2 * 3 * 16 * 4
    assert counter.flops() == counter.get_total_flops()


def test_saved_bytes_count_each_storage_once_views_whole_weights_never():
    lin = nn.Linear(6, 5, bias=False).requires_grad_(False)
    x = torch.randn(4, 6, requires_grad=True)

    def step():
        a = x.exp()  # saves its result a
        a.sin()  # saves a again
        a[:, :2].cos()  # saves a view of a: the storage of a, already counted
        lin(a)  # saves the weight only (a parameter)

    _, saved = count(step, {lin: "head"}, model_state(lin))
    assert saved.total() == 4 * 6 * 4
    assert dict(saved.by_part) == {"other": 4 * 6 * 4}


@pytest.mark.parametrize("attention, bwd_matmuls", [("fused", 5), ("math", 4)])
def test_attention_formula_on_meta_and_cpu(attention, bwd_matmuls):
    b, h, s, d = 2, 3, 16, 8
    flops = {}
    for device in ("meta", "cpu"):
        q, k, v = (torch.randn(b, h, s, d, device=device, requires_grad=True) for _ in range(3))
        counter, _ = count(lambda: torch.autograd.grad(F.scaled_dot_product_attention(q, k, v).sum(), (q, k, v)),
                           {}, attention=attention, device=device)
        flops[device] = (counter.flops("fwd"), counter.flops("bwd"))
    one = 2 * b * h * s * s * d  # one (s x d) @ (d x s) matmul per head
    assert flops["meta"] == flops["cpu"] == (2 * one, bwd_matmuls * one)  # fused recomputes QK^T


def test_fused_attention_on_meta_is_undone_after_the_block():
    q = torch.randn(1, 2, 8, 4, device="meta", requires_grad=True)
    with attention_kernel("fused", "meta"):
        assert "FlashAttentionForCpu" in type(F.scaled_dot_product_attention(q, q, q).grad_fn).__name__
    assert "FlashAttentionForCpu" not in type(F.scaled_dot_product_attention(q, q, q).grad_fn).__name__


@pytest.fixture(scope="module")
def tiny_rows():
    return {r["backend"]: r for r in model_rows("tiny", ALL, [2], dtype="fp32", device="meta")}


def test_meta_equals_real_tensors_on_tiny(tiny_rows):
    real = {r["backend"]: r for r in model_rows("tiny", ALL, [2], dtype="fp32", device="cpu")}
    for name in ALL:
        diff = {k: (tiny_rows[name][k], real[name][k]) for k in COLUMNS if tiny_rows[name][k] != real[name][k]}
        assert not diff, f"{name}: meta vs real {diff}"


def test_parts_add_up_and_columns_are_flat(tiny_rows):
    for name, r in tiny_rows.items():
        assert tuple(r) == COLUMNS
        for phase in ("fwd", "bwd"):
            assert sum(r[f"{p}_{phase}_flops"] for p in PARTS) == r[f"{phase}_flops"], name
        assert sum(r[f"{p}_saved_bytes"] for p in PARTS) == r["saved_bytes"], name
        assert r["total_flops"] == r["fwd_flops"] + r["bwd_flops"]
        assert r["weights"] == "random"


def test_each_backend_pays_for_its_own_gradient_path(tiny_rows):
    r = tiny_rows
    assert r["none"]["bwd_flops"] == r["none"]["saved_bytes"] == 0 and r["none"]["flops_ratio"] == 1.0
    unet_fwd = r["none"]["unet_down_mid_fwd_flops"] + r["none"]["unet_up_fwd_flops"]
    for name in ALL:  # every backend runs the UNet forward for both CFG halves, once
        assert r[name]["unet_down_mid_fwd_flops"] + r[name]["unet_up_fwd_flops"] == unet_fwd, name
    assert r["latent"]["bwd_flops"] == r["latent"]["head_bwd_flops"] > 0
    # latent-x0: the same head on x0 (elementwise from x and the fixed eps: no FLOPs), so exactly latent's cost
    for col in ("fwd_flops", "bwd_flops", "total_flops", "saved_bytes", "head_fwd_flops", "head_bwd_flops", "head_saved_bytes"):
        assert r["latent-x0"][col] == r["latent"][col], col
    midu = r["midu"]
    assert midu["bwd_flops"] == midu["unet_down_mid_bwd_flops"] + midu["head_bwd_flops"]
    assert midu["unet_up_saved_bytes"] == 0  # the up path runs with no graph
    hook = r["midu-hook"]
    assert hook["unet_up_bwd_flops"] == 0 < hook["unet_up_saved_bytes"]  # graph kept over the up path, never used
    assert hook["unet_down_mid_bwd_flops"] >= midu["unet_down_mid_bwd_flops"]
    for name in ("pixel", "pixel-tiny"):
        assert min(r[name][f"{p}_bwd_flops"] for p in ("unet_down_mid", "unet_up", "decoder", "image_encoder", "head")) > 0
    for name in ("pixel-x0", "pixel-x0-tiny"):
        assert r[name]["unet_down_mid_bwd_flops"] == r[name]["unet_up_bwd_flops"] == 0 < r[name]["decoder_bwd_flops"]
    assert r["pixel-tiny"]["decoder_fwd_flops"] < r["pixel"]["decoder_fwd_flops"]


def test_flops_do_not_depend_on_dtype_bytes_do():
    a = {r["backend"]: r for r in model_rows("tiny", ["midu"], [1], dtype="fp32")}
    b = {r["backend"]: r for r in model_rows("tiny", ["midu"], [1], dtype="fp16")}
    assert a["midu"]["total_flops"] == b["midu"]["total_flops"]
    assert a["midu"]["saved_bytes"] > b["midu"]["saved_bytes"] > 0


def test_cli_writes_csv_and_json_with_its_command(tmp_path):
    out = tmp_path / "cm"
    assert main(["costmodel", "--models", "tiny", "--backends", "midu", "--batches", "1", "--attention", "fused", "math", "--out", str(out)]) == 0
    with open(out / "costmodel.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [(r["backend"], r["attention"]) for r in rows] == [("none", "fused"), ("none", "math"), ("midu", "fused"), ("midu", "math")]
    assert rows[2]["attn_bwd_flops"] != "" and rows[3]["attn_bwd_flops"] == ""  # math attention is not separable
    assert float(rows[3]["flops_ratio"]) < float(rows[2]["flops_ratio"])  # fused backward recomputes QK^T
    meta = json.loads((out / "costmodel.json").read_text())
    assert meta["command"].startswith("python -m bench costmodel --models tiny --backends midu --batches 1")
    assert meta["provenance"]["torch_version"] and "git_commit" in meta["provenance"]
    assert set(PART_COLUMNS) <= set(rows[0])


@pytest.mark.parametrize(
    "args, message",
    [
        (["--backends", "mid-u"], "unknown backend 'mid-u'; valid: none, latent, midu"),
        (["--models", "sdxl-turbo"], "unknown model 'sdxl-turbo'"),
        (["--attention", "flash"], "unknown attention 'flash'; valid: fused, math"),
        (["--dtypes", "fp8"], "unknown dtype 'fp8'; valid: fp32, fp16, bf16"),
        (["--device", "cuda"], "unknown device 'cuda'; valid: meta, cpu"),
        (["--batches", "0"], "batch=0: expected an integer >= 1"),
        (["--sizes", "33"], "image size 33 must be a multiple of the VAE factor 2"),
    ],
)
def test_bad_input_one_line(args, message, tmp_path, capsys):
    assert main(["costmodel", "--models", "tiny", "--out", str(tmp_path), *args]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1, err
