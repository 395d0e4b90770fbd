"""Cells as Ray tasks: Ray places each on a worker with the GPU share it asks for; results come back to the driver.

The driver is the only writer: a task returns its cell's rows (and any files,
as bytes) and the driver writes them, so workers never touch the output folder
and no file is locked over a shared filesystem. Before running a cell a worker
compares its code commit and package versions with the driver's and refuses
to run when they differ; it sets torch's thread count to the driver's, so a
cell computes what it would compute locally. A worker that dies mid-cell
(SIGKILL, a lost node) is retried by Ray `retries` times; after that the cell
comes back as `status: failed` with Ray's reason. At most as many tasks are in
flight as the cluster has room for, so "running" in the progress bar is what
runs, and a driver killed mid-sweep loses only those cells.

Ray is imported here only, and this module only when `--executor ray` is asked for.
"""
from __future__ import annotations

import functools
import os
import platform
import socket
import time
from dataclasses import dataclass
from typing import Callable, Iterable, Iterator

import torch
from tqdm import tqdm

from bench.store.provenance import git_commit, package_versions
from bench.store.sweep import oom_row

RETRIES = 2  # retries of a cell whose worker died, before it becomes a `failed` row


@dataclass(frozen=True)
class RayOptions:
    address: str | None = None  # an existing cluster ("auto", "host:6379"); None starts a local one on this machine's devices
    gpus: float = 1.0  # GPUs each task asks for (fractions share a device; 0: CPU-only tasks)
    retries: int = RETRIES
    threads: int | None = None  # torch threads on each worker: the driver's, so cells compute as a local run does


def start(address: str | None):
    """Ray, joined to `address` or to a new local cluster (no dashboard, no usage report, worker logs kept off the terminal)."""
    os.environ.setdefault("RAY_DISABLE_USAGE_STATS", "1")
    import ray

    if not ray.is_initialized():
        local = {} if address else {"include_dashboard": False}  # "local": a new cluster, even where `ray start` left one running
        ray.init(address=address or "local", log_to_driver=False, **local)
    return ray


@functools.cache
def fingerprint() -> dict:
    """What must match between driver and workers: the code commit, Python and package versions."""
    import ray

    return {"git_commit": git_commit(), "python": platform.python_version(), "ray": ray.__version__, **package_versions()}


def differences(mine: dict, theirs: dict) -> str:
    return "; ".join(f"{k} {mine.get(k)} (driver: {theirs.get(k)})" for k in sorted(set(mine) | set(theirs)) if mine.get(k) != theirs.get(k))


def placement() -> dict:
    """Where the task ran: host, process, the GPUs Ray gave it (CUDA_VISIBLE_DEVICES) and the device torch sees."""
    import ray

    gpu_ids = ray.get_gpu_ids()
    device = torch.cuda.get_device_name() if gpu_ids and torch.cuda.is_available() else "cpu"
    return {"worker_host": socket.gethostname(), "worker_pid": os.getpid(), "worker_gpu_ids": ",".join(map(str, gpu_ids)),
            "worker_device": device}


def on_worker(fn: Callable, item, expect: dict, threads: int | None) -> dict:
    """Runs in the Ray worker: refuse a mismatched install, else `fn(item)`; an OOM is a result, as in a local sweep."""
    where = placement()
    mine = fingerprint()
    if mine != expect:
        return {"refused": differences(mine, expect), "placement": where}
    if threads:
        torch.set_num_threads(threads)
    t0 = time.perf_counter()
    try:
        out, status = fn(item), "ok"
    except torch.OutOfMemoryError as e:
        out, status = oom_row(e), "oom"
    out, files = out if isinstance(out, tuple) else (out, {})
    return {"measured": out, "status": status, "files": files, "wall_s": time.perf_counter() - t0, "placement": where}


def slots(ray, gpus: float) -> int:
    """How many tasks the cluster can run at once (each holds one CPU too); refused when one cannot fit at all (it would wait forever)."""
    have = ray.cluster_resources()
    cpus = max(1, int(have.get("CPU", 1)))
    if gpus > 0:
        n = have.get("GPU", 0)
        if n < gpus:
            raise ValueError(f"the Ray cluster has {n:g} GPUs but each task asks for {gpus:g}: join a cluster with GPUs "
                             "(--address), or run CPU-only tasks (--gpus-per-cell 0)")
        return max(1, min(cpus, int(n // gpus + 1e-9)))
    return cpus


def run_tasks(fn: Callable, items: Iterable, opts: RayOptions, progress: bool = True, done: int = 0,
              expect: dict | None = None, desc: str = "sweep") -> Iterator[tuple[int, dict]]:
    """(index, result) for each item as its task finishes; the bar counts done, running and failed cells with an ETA.

    A result is `on_worker`'s dict; a task whose worker died beyond its retries gives
    `{"status": "failed", "measured": {"error": reason}}`. An exception a cell raises stops
    the run as it would locally (tasks in flight are cancelled), and so does a refused worker.
    """
    ray = start(opts.address)
    items = list(items)
    expect = expect or fingerprint()
    task = ray.remote(on_worker).options(num_gpus=opts.gpus, max_retries=opts.retries, retry_exceptions=False)
    room = slots(ray, opts.gpus)
    fn_ref = ray.put(fn)  # shipped once, not once per cell
    queue, pending, failed = iter(enumerate(items)), {}, 0
    bar = tqdm(total=done + len(items), initial=done, unit="cell", desc=desc, disable=None if progress else True, dynamic_ncols=True)
    try:
        while True:
            while len(pending) < room and (nxt := next(queue, None)) is not None:
                pending[task.remote(fn_ref, nxt[1], expect, opts.threads)] = (nxt[0], time.perf_counter())
            if not pending:
                break
            bar.set_postfix(running=len(pending), failed=failed)
            [ref], _ = ray.wait(list(pending), num_returns=1)
            i, t0 = pending.pop(ref)
            try:
                res = ray.get(ref)
            except ray.exceptions.RayTaskError as e:  # the cell's own exception: a bug or bad input, raised as locally
                cause = getattr(e, "cause", None)
                raise (cause if isinstance(cause, BaseException) else e.as_instanceof_cause()) from e
            except ray.exceptions.RayError as e:  # the worker or its node died, beyond the retries
                res = {"status": "failed", "measured": {"error": _reason(e)}, "files": {}, "wall_s": time.perf_counter() - t0, "placement": {}}
            if "refused" in res:
                raise ValueError(f"worker {res['placement']['worker_host']} runs other code or packages than the driver: {res['refused']}; "
                                 "install the same commit and packages on every node")
            failed += res["status"] == "failed"
            bar.update(1)
            bar.set_postfix(running=len(pending), failed=failed)
            with tqdm.external_write_mode():
                yield i, res
    finally:
        for ref in pending:
            ray.cancel(ref, force=True)
        bar.close()


def _reason(e: BaseException) -> str:
    lines = [line.strip() for line in str(e).splitlines() if line.strip()]
    return f"{type(e).__name__}: {lines[0] if lines else 'worker died'}"
