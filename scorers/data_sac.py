"""Simulacra Aesthetic Captions (SAC) as released: an SQLite index next to the image files.

The release (github.com/JD-P/simulacra-aesthetic-captions) is
`sac_public_2022_06_29.sqlite` plus tar files of images. Its tables, as listed by
the pysimulacra wrapper's README (github.com/alecsharpie/pysimulacra):

    generations (id, sid, method, prompt, verified)   one prompt run, by survey/user sid
    images      (id, gid, idx)                        images.gid -> generations.id; idx = place in the batch
    paths       (iid, path)                           paths.iid -> images.id; path of the image file
    ratings     (sid, iid, rating, verified)          ratings.iid -> images.id; a 1..10 rating by user sid
    survey      (id, qid, rating)                     the sign-up aesthetic survey (not read here)
    upscales    (iid, method)                         which images were upscaled (not read here)

How the tables link, and that `paths.path` is relative to the folder the image
tars were extracted into, follows Katherine Crowson's
`simulacra_compute_embeddings.py` (github.com/crowsonkb/simulacra-aesthetic-models),
which joins images->generations on gid, ratings and paths on iid, averages
ratings per image (GROUP BY images.id) and opens `images_dir / paths.path`.
CarperAI's trlx `examples/ilql_simulacra.py` joins the same way and drops NULL ratings.

Here ratings are aggregated per image before joining (so a second path row
could not double-count them), NULL ratings are skipped, and the `verified` flags
are not filtered on (neither source does). An image with two path rows is refused.

    records = read_sac("sac/sac_public_2022_06_29.sqlite")                  # images next to the database
    records = read_sac("sac.sqlite", images_dir="sac/images", skip_missing=True)  # only some tars extracted
    write_sac("toy/sac.sqlite", generations)  # other data (tests, the toy world) in the same layout
"""

import sqlite3
from pathlib import Path

import pandas as pd

from scorers.records import finish_records

# The release's tables with the columns named above; the column types are our guess (not documented).
CREATE = """
CREATE TABLE generations (id INTEGER PRIMARY KEY, sid INTEGER, method INTEGER, prompt TEXT, verified INTEGER);
CREATE TABLE images (id INTEGER PRIMARY KEY, gid INTEGER, idx INTEGER);
CREATE TABLE paths (iid INTEGER, path TEXT);
CREATE TABLE ratings (sid INTEGER, iid INTEGER, rating INTEGER, verified INTEGER);
CREATE TABLE survey (id INTEGER, qid INTEGER, rating INTEGER);
CREATE TABLE upscales (iid INTEGER, method INTEGER);
"""

SCHEMA = {
    "generations": ("id", "prompt"),
    "images": ("id", "gid"),
    "paths": ("iid", "path"),
    "ratings": ("iid", "rating"),
}

QUERY = """
WITH r AS (
    SELECT iid, AVG(rating) AS rating_mean, COUNT(rating) AS rating_count
    FROM ratings WHERE rating IS NOT NULL GROUP BY iid
)
SELECT images.id AS image_id, paths.path AS image_path, generations.prompt AS prompt,
       r.rating_mean AS rating_mean, r.rating_count AS rating_count
FROM images
JOIN generations ON images.gid = generations.id
JOIN r ON r.iid = images.id
JOIN paths ON paths.iid = images.id
ORDER BY images.id
"""


def check_schema(conn: sqlite3.Connection, path: Path) -> None:
    """Refuse a database without the SAC tables and columns this reader joins, naming what is missing."""
    for table, cols in SCHEMA.items():
        have = {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
        if not have:
            raise ValueError(f"{path} is not an SAC database: no table {table!r} "
                             f"(expected tables {sorted(SCHEMA)} as in sac_public_2022_06_29.sqlite)")
        if missing := [c for c in cols if c not in have]:
            raise ValueError(f"{path}: SAC table {table!r} lacks columns {missing}; it has {sorted(have)}")


def read_sac(path: str | Path, images_dir: str | Path | None = None, skip_missing: bool = False) -> pd.DataFrame:
    """Records (scorers.records.RECORD_COLUMNS) of every rated SAC image with a path.

    `images_dir` is where `paths.path` is resolved (default: the database's folder).
    Images whose file is absent raise unless `skip_missing`.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"SAC database not found: {path}")
    root = Path(images_dir) if images_dir is not None else path.parent
    if not root.is_dir():
        raise FileNotFoundError(f"SAC images folder not found: {root}")
    # read-only URI: a reader must never create or modify the index
    conn = sqlite3.connect(f"file:{path.resolve()}?mode=ro", uri=True)
    try:
        check_schema(conn, path)
        records = pd.read_sql_query(QUERY, conn)
    finally:
        conn.close()
    if records.empty:
        raise ValueError(f"{path}: no image has both a rating and a path")
    dup = records["image_id"].duplicated()
    if dup.any():
        raise ValueError(f"{path}: image {records.loc[dup, 'image_id'].iloc[0]} has several rows in 'paths'; "
                         "expected one file per image")
    records["image_path"] = [str((root / p).resolve()) for p in records["image_path"]]
    return finish_records(records, skip_missing, source=str(path))


def write_sac(path: str | Path, generations) -> Path:
    """Write an SAC-layout database: `generations` is a list of (prompt, [(image path, [ratings...]), ...]).

    Image paths are stored as given (relative to the images folder, as in the release);
    ratings get user ids 1, 2, ... in order; an image with no ratings gets none.
    """
    path = Path(path)
    if path.exists():
        raise FileExistsError(f"{path} exists; write_sac creates a new database")
    conn = sqlite3.connect(path)
    try:
        conn.executescript(CREATE)
        iid = 0
        for gid, (prompt, images) in enumerate(generations, start=1):
            conn.execute("INSERT INTO generations VALUES (?, ?, ?, ?, ?)", (gid, 1, 3, prompt, 1))
            for idx, (image_path, ratings) in enumerate(images):
                iid += 1
                conn.execute("INSERT INTO images VALUES (?, ?, ?)", (iid, gid, idx))
                conn.execute("INSERT INTO paths VALUES (?, ?)", (iid, str(image_path)))
                conn.executemany("INSERT INTO ratings VALUES (?, ?, ?, ?)",
                                 [(sid, iid, r, 1) for sid, r in enumerate(ratings, start=1)])
        conn.commit()
    finally:
        conn.close()
    return path
