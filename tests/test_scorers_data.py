"""Data readers: SAC's SQLite layout and the plain table give the same records; bad input is named."""

import sqlite3

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from scorers.data_sac import read_sac, write_sac
from scorers.data import read_records
from scorers.data_table import read_table
from scorers.records import RECORD_COLUMNS


def write_png(path, seed):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.random.default_rng(seed).integers(0, 256, (20, 24, 3), dtype=np.uint8)).save(path)


@pytest.fixture
def sac(tmp_path):
    """Two generations: three rated images (1, 2 and 3 ratings), one unrated image, under images/."""
    for i in range(4):
        write_png(tmp_path / "images" / f"{i}.png", i)
    db = write_sac(tmp_path / "sac.sqlite", [
        ("a red circle", [("images/0.png", [3]), ("images/1.png", [4, 7])]),
        ("a blue star", [("images/2.png", [10, 9, 8]), ("images/3.png", [])]),
    ])
    return db


def test_sac_ratings_are_averaged_and_counted(sac, tmp_path):
    rec = read_sac(sac, images_dir=tmp_path)  # paths.path is relative to the images root
    assert list(rec.columns) == list(RECORD_COLUMNS)
    assert rec.image_id.tolist() == ["1", "2", "3"]  # the unrated image 4 has no record
    assert rec.rating_mean.tolist() == [3.0, 5.5, 9.0]
    assert rec.rating_count.tolist() == [1, 2, 3]
    assert rec.prompt.tolist() == ["a red circle", "a red circle", "a blue star"]
    assert rec.image_path.iloc[2] == str((tmp_path / "images" / "2.png").resolve())
    assert rec.equals(read_records(sac))  # default images root: the database's folder


def test_sac_null_ratings_are_skipped(sac):
    conn = sqlite3.connect(sac)
    conn.execute("INSERT INTO ratings VALUES (9, 1, NULL, 1)")
    conn.commit()
    conn.close()
    rec = read_sac(sac)
    assert rec.rating_count.iloc[0] == 1 and rec.rating_mean.iloc[0] == 3.0


def test_sac_missing_images_raise_or_are_skipped(sac, tmp_path):
    (tmp_path / "images" / "1.png").unlink()
    with pytest.raises(FileNotFoundError, match=r"1 of 3 image files are missing, e\.g\. .*1\.png"):
        read_sac(sac)
    assert read_sac(sac, skip_missing=True).image_id.tolist() == ["1", "3"]


def test_sac_schema_errors_name_what_is_missing(tmp_path):
    db = tmp_path / "other.sqlite"
    conn = sqlite3.connect(db)
    conn.executescript("CREATE TABLE generations (id INTEGER, prompt TEXT); CREATE TABLE images (id INTEGER);")
    conn.close()
    with pytest.raises(ValueError, match=r"table 'images' lacks columns \['gid'\]"):
        read_sac(db)
    conn = sqlite3.connect(db)
    conn.execute("ALTER TABLE images ADD COLUMN gid INTEGER")
    conn.close()
    with pytest.raises(ValueError, match="not an SAC database: no table 'paths'"):
        read_sac(db)


def test_table_matches_sac_records(sac, tmp_path):
    rows = [("images/0.png", "a red circle", 3), ("images/1.png", "a red circle", 4),
            ("images/1.png", "a red circle", 7), ("images/2.png", "a blue star", 10),
            ("images/2.png", "a blue star", 9), ("images/2.png", "a blue star", 8)]
    pd.DataFrame(rows, columns=["image_path", "prompt", "rating"]).to_csv(tmp_path / "r.csv", index=False)
    rec = read_table(tmp_path / "r.csv")
    assert list(rec.columns) == list(RECORD_COLUMNS)
    assert rec.image_id.tolist() == ["images/0.png", "images/1.png", "images/2.png"]  # default id: the path as written
    sac_rec = read_sac(sac)
    for col in ("image_path", "prompt", "rating_mean", "rating_count"):
        assert rec[col].tolist() == sac_rec[col].tolist()


def test_table_labels_and_conflicts(tmp_path):
    write_png(tmp_path / "a.png", 0)
    table = pd.DataFrame({"image_path": ["a.png", "a.png"], "prompt": ["x", "x"], "rating": [2, 5], "label": [1, 1]})
    table.to_csv(tmp_path / "ok.csv", index=False)
    rec = read_records(tmp_path / "ok.csv")
    assert rec.label.tolist() == [1] and rec.rating_mean.tolist() == [3.5] and rec.rating_count.tolist() == [2]
    table.assign(prompt=["x", "y"]).to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(ValueError, match=r"image 'a.png' has 2 different values of 'prompt'"):
        read_table(tmp_path / "bad.csv")
    table.drop(columns="rating").to_csv(tmp_path / "norating.csv", index=False)
    with pytest.raises(ValueError, match=r"lacks columns \['rating'\]"):
        read_table(tmp_path / "norating.csv")


def test_parquet_without_pyarrow_names_the_package(tmp_path):
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        (tmp_path / "r.parquet").write_bytes(b"PAR1")
        with pytest.raises(ImportError, match="needs the package 'pyarrow'"):
            read_records(tmp_path / "r.parquet")
    else:
        pytest.skip("pyarrow is installed: parquet is read")


def test_unknown_suffix_is_refused(tmp_path):
    with pytest.raises(ValueError, match=r"unknown suffix '\.json'"):
        read_records(tmp_path / "ratings.json")
