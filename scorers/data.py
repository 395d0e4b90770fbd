"""Records from any rated-image file, by its suffix: an SAC SQLite database or a CSV/Parquet table."""

from pathlib import Path

import pandas as pd

from scorers.data_sac import read_sac
from scorers.data_table import read_table

SQLITE_SUFFIXES = (".sqlite", ".sqlite3", ".db")
TABLE_SUFFIXES = (".csv", ".parquet")


def read_records(path: str | Path, images_dir: str | Path | None = None, skip_missing: bool = False) -> pd.DataFrame:
    """Records from an SAC SQLite database or a CSV/Parquet table, chosen by the file's suffix."""
    path = Path(path)
    if path.suffix in SQLITE_SUFFIXES:
        return read_sac(path, images_dir=images_dir, skip_missing=skip_missing)
    if path.suffix in TABLE_SUFFIXES:
        if images_dir is not None:
            raise ValueError("images_dir applies to SAC databases; a table's relative paths are read from its own folder")
        return read_table(path, skip_missing=skip_missing)
    raise ValueError(f"data file {path}: unknown suffix {path.suffix!r}; expected an SAC database "
                     f"({', '.join(SQLITE_SUFFIXES)}) or a table ({', '.join(TABLE_SUFFIXES)})")
