"""Rated images from a plain table (CSV, or Parquet when pyarrow is installed).

The plain layout has one row per rating: `image_path`, `prompt`, `rating`, and
optionally `image_id` (default: the path as written), `label` and `real`
(1 for a real image, 0 for the model's own sample: a discriminator head's data;
`rating` may then be left out, as such images are not rated). Several rows
of one image are averaged and counted, as SAC's several ratings are. Relative
paths are read relative to the table's folder. Returns the record type of
`scorers.records`.
"""

from pathlib import Path

import pandas as pd

from scorers.records import finish_records

TABLE_REQUIRED = ("image_path", "prompt", "rating")


def read_table(path: str | Path, skip_missing: bool = False) -> pd.DataFrame:
    """Records from a table with one row per rating (see the module docstring)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"ratings table not found: {path}")
    if path.suffix == ".parquet":
        df = _read_parquet(path)
    else:
        df = pd.read_csv(path, dtype={"image_path": str, "prompt": str, "image_id": str}, keep_default_na=False)
    if "real" in df.columns and "rating" not in df.columns:
        df = df.assign(rating=float("nan"))  # unrated: real and generated images for a discriminator head
    if missing := [c for c in TABLE_REQUIRED if c not in df.columns]:
        raise ValueError(f"{path} lacks columns {missing}; expected {list(TABLE_REQUIRED)} "
                         f"(optional: image_id, label, real), got {list(df.columns)}")
    if df.empty:
        raise ValueError(f"{path} has no rows")
    df = df.copy()
    df["rating"] = pd.to_numeric(df["rating"], errors="raise").astype("float64")
    if "image_id" not in df.columns:
        df["image_id"] = df["image_path"]
    df["image_path"] = [str((path.parent / p).resolve()) for p in df["image_path"]]
    extra = tuple(c for c in ("label", "real") if c in df.columns)
    for col in ("image_path", "prompt") + extra:
        _check_one_value_per_image(df, col, path)
    named = {"image_path": ("image_path", "first"), "prompt": ("prompt", "first"),
             "rating_mean": ("rating", "mean"), "rating_count": ("rating", "count"),
             **{c: (c, "first") for c in extra}}
    records = df.groupby("image_id", sort=True).agg(**named).reset_index()
    return finish_records(records, skip_missing, source=str(path))


def _read_parquet(path: Path) -> pd.DataFrame:
    try:
        import pyarrow  # noqa: F401  # pandas reads parquet through it
    except ImportError:
        raise ImportError(f"{path}: reading Parquet needs the package 'pyarrow', which is not installed; "
                          "pip install pyarrow, or give the table as CSV") from None
    return pd.read_parquet(path)


def _check_one_value_per_image(df: pd.DataFrame, col: str, path: Path) -> None:
    counts = df.groupby("image_id")[col].nunique()
    if (bad := counts[counts > 1]).size:
        raise ValueError(f"{path}: image {bad.index[0]!r} has {bad.iloc[0]} different values of {col!r}; "
                         "rows of one image must agree on everything but the rating")
