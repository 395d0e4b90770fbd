"""The one record type every data reader returns, and the reader that picks by file type.

A pandas DataFrame with exactly the columns of `RECORD_COLUMNS` (plus an
optional integer `label` for class heads and `real`, 1 or 0, for discriminator heads),
one row per image, sorted by
`image_id`:

    image_path    absolute path of the image file
    prompt        the text the image was generated from (the UNet is run with it)
    rating_mean   mean of the image's ratings
    rating_count  how many ratings were averaged
    image_id      a stable string id; the held-out split is drawn from it

    records = read_records("ratings.csv")                     # plain table (scorers.data_table)
    records = read_records("sac_public_2022_06_29.sqlite")    # SAC as released (scorers.data_sac)
"""

from pathlib import Path

import pandas as pd

RECORD_COLUMNS = ("image_path", "prompt", "rating_mean", "rating_count", "image_id")
OPTIONAL_COLUMNS = ("label", "real")


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
    if "real" in out.columns:
        out["real"] = pd.to_numeric(out["real"], errors="raise")
        if not out["real"].isin((0, 1)).all():
            bad = out.loc[~out["real"].isin((0, 1)), "real"].iloc[0]
            raise ValueError(f"{source}: the `real` column must be 1 (a real image) or 0 (the model's own sample), got {bad}")
        out["real"] = out["real"].astype("int64")
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
