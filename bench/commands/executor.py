"""`--executor`, `--address` (and `--gpus-per-cell`) for the commands whose cells can run on Ray (uplift, cost-run).

`local` (the default) runs every cell in this process, as always; `ray` makes each
cell a Ray task (bench/store/ray_tasks.py) on a local cluster of this machine's
devices, or on the cluster `--address` names. Not part of a sweep's identity:
the rows are the same either way, apart from where they ran.
"""
from __future__ import annotations

EXECUTORS = ("local", "ray")


def add_executor_args(p, cell_gpus: bool) -> None:
    p.add_argument("--executor", default="local", help=f"{' or '.join(EXECUTORS)}: ray runs each cell as a Ray task asking for a GPU "
                                                      "(README: Sweeps on a cluster)")
    p.add_argument("--address", default=None, help="with --executor ray: the cluster to join (auto, HOST:PORT); "
                                                   "default: start a local one on this machine's devices")
    if cell_gpus:
        p.add_argument("--gpus-per-cell", type=float, default=1.0,
                       help="with --executor ray: GPUs each cell asks for; a fraction shares a device, 0 runs CPU-only tasks")


def ray_options(a):
    """RayOptions for `--executor ray`, None for local; bad values refused before any work."""
    if a.executor not in EXECUTORS:
        raise ValueError(f"--executor {a.executor}: expected one of {', '.join(EXECUTORS)}")
    gpus = getattr(a, "gpus_per_cell", 1.0)
    if a.executor == "local":
        if a.address is not None or gpus != 1.0:
            raise ValueError("--address and --gpus-per-cell need --executor ray")
        return None
    if not gpus >= 0:
        raise ValueError(f"--gpus-per-cell {gpus}: expected a number >= 0")
    from bench.store.ray_tasks import RayOptions

    return RayOptions(address=a.address, gpus=gpus)
