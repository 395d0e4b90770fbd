"""Rated images from a plain table (CSV, or Parquet when pyarrow is installed), and the one record type.

Every data reader returns the same thing: a pandas DataFrame with exactly the
columns of `RECORD_COLUMNS` (plus an optional integer `label` for class heads),
one row per image, sorted by `image_id`:

    image_path    absolute path of the image file
    prompt        the text the image was generated from (the UNet is run with it)
    rating_mean   mean of the image's ratings
    rating_count  how many ratings were averaged
    image_id      a stable string id; the held-out split is drawn from it

The plain layout has one row per rating: `image_path`, `prompt`, `rating`, and
optionally `image_id` (default: the path as written) and `label`. Several rows
of one image are averaged and counted, as SAC's several ratings are. Relative
paths are read relative to the table's folder.

    records = read_records("ratings.csv")                     # plain table
    records = read_records("sac_public_2022_06_29.sqlite")    # SAC as released (scorers.data_sac)
"""

from pathlib import Path

import pandas as pd

RECORD_COLUMNS = ("image_path", "prompt", "rating_mean", "rating_count", "image_id")
OPTIONAL_COLUMNS = ("label",)
TABLE_REQUIRED = ("image_path", "prompt", "rating")
SQLITE_SUFFIXES = (".sqlite", ".sqlite3", ".db")
TABLE_SUFFIXES = (".csv", ".parquet")


def read_records(path: str | Path, images_dir: str | Path | None = None, skip_missing: bool = False) -> pd.DataFrame:
    """Records from an SAC SQLite database or a CSV/Parquet table, chosen by the file's suffix."""
    path = Path(path)
    if path.suffix in SQLITE_SUFFIXES:
        from scorers.data_sac import read_sac

        return read_sac(path, images_dir=images_dir, skip_missing=skip_missing)
    if path.suffix in TABLE_SUFFIXES:
        if images_dir is not None:
            raise ValueError("images_dir applies to SAC databases; a table's relative paths are read from its own folder")
        return read_table(path, skip_missing=skip_missing)
    raise ValueError(f"data file {path}: unknown suffix {path.suffix!r}; expected an SAC database "
                     f"({', '.join(SQLITE_SUFFIXES)}) or a table ({', '.join(TABLE_SUFFIXES)})")


def read_table(path: str | Path, skip_missing: bool = False) -> pd.DataFrame:
    """Records from a table with one row per rating (see the module docstring)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"ratings table not found: {path}")
    if path.suffix == ".parquet":
        df = _read_parquet(path)
    else:
        df = pd.read_csv(path, dtype={"image_path": str, "prompt": str, "image_id": str}, keep_default_na=False)
    if missing := [c for c in TABLE_REQUIRED if c not in df.columns]:
        raise ValueError(f"{path} lacks columns {missing}; expected {list(TABLE_REQUIRED)} "
                         f"(optional: image_id, label), got {list(df.columns)}")
    if df.empty:
        raise ValueError(f"{path} has no rows")
    df = df.copy()
    df["rating"] = pd.to_numeric(df["rating"], errors="raise").astype("float64")
    if "image_id" not in df.columns:
        df["image_id"] = df["image_path"]
    df["image_path"] = [str((path.parent / p).resolve()) for p in df["image_path"]]
    extra = ("label",) if "label" in df.columns else ()
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


def finish_records(records: pd.DataFrame, skip_missing: bool, source: str) -> pd.DataFrame:
    """Fixed columns and dtypes, sorted by image_id; images whose file is absent raise (or are dropped)."""
    cols = list(RECORD_COLUMNS) + [c for c in OPTIONAL_COLUMNS if c in records.columns]
    out = records[cols].copy()
    out["image_id"] = out["image_id"].astype(str)
    out["rating_mean"] = out["rating_mean"].astype("float64")
    out["rating_count"] = out["rating_count"].astype("int64")
    if "label" in out.columns:
        out["label"] = pd.to_numeric(out["label"], errors="raise").astype("int64")
        if (out["label"] < 0).any():
            raise ValueError(f"{source}: labels must be class indices >= 0, got {int(out['label'].min())}")
    exists = out["image_path"].map(lambda p: Path(p).is_file())
    if not exists.all():
        first = out.loc[~exists, "image_path"].iloc[0]
        if not skip_missing:
            raise FileNotFoundError(f"{source}: {int((~exists).sum())} of {len(out)} image files are missing, "
                                    f"e.g. {first}; pass skip_missing (--skip-missing-images) to leave them out")
        out = out[exists]
    if out.empty:
        raise ValueError(f"{source}: no rated images with files left")
    return out.sort_values("image_id", kind="stable").reset_index(drop=True)
