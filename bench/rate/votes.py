"""The vote database: SQLite in WAL mode, each vote committed (synchronous=FULL) before the page moves on.

One row per (sweep, rater, pair): the first vote stands, so a rater rates a pair once, and a reload or a
second visit resumes at the first pair without a vote. Each vote records the shown order (which arm was on
the left), the choice (left, right, tie, skip), the time and the sweep's identity. A per-database salt,
drawn once, makes each rater's order and sides unpredictable from outside.
"""
from __future__ import annotations

import re
import secrets
import sqlite3
from datetime import datetime, timezone
from pathlib import Path

VOTES_FILE = "votes.sqlite"  # beside the sweep's rows: `rate` writes it, `uplift-report` reads it
CHOICES = ("left", "right", "tie", "skip")
RATER_RE = re.compile(r"[A-Za-z0-9_-]{1,32}")
SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS votes (
    sweep_id TEXT NOT NULL, rater TEXT NOT NULL, pair TEXT NOT NULL,
    prompt_idx INTEGER NOT NULL, seed INTEGER NOT NULL, left_arm TEXT NOT NULL, right_arm TEXT NOT NULL,
    choice TEXT NOT NULL CHECK (choice IN ('left', 'right', 'tie', 'skip')), time_utc TEXT NOT NULL,
    PRIMARY KEY (sweep_id, rater, pair));
"""


def check_rater(rater: str) -> str:
    if not isinstance(rater, str) or not RATER_RE.fullmatch(rater):
        raise ValueError(f"rater id {rater!r}: expected 1-32 letters, digits, '-' or '_'")
    return rater


def connect(path: str | Path) -> sqlite3.Connection:
    con = sqlite3.connect(path, timeout=10)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=FULL")
    return con


def open_db(path: str | Path) -> str:
    """Create the database if needed; the salt it holds."""
    with connect(path) as con:
        con.executescript(SCHEMA)
        con.execute("INSERT OR IGNORE INTO meta VALUES ('salt', ?)", (secrets.token_hex(16),))
        return con.execute("SELECT value FROM meta WHERE key = 'salt'").fetchone()[0]


def set_plan(path: str | Path, sweep_id: str, statement: str) -> None:
    """Keep the plan the server offers for a sweep (the latest one), for the report to state."""
    with connect(path) as con:
        con.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (f"plan:{sweep_id}", statement))


def get_plan(path: str | Path, sweep_id: str) -> str | None:
    con = connect(path)
    try:
        row = con.execute("SELECT value FROM meta WHERE key = ?", (f"plan:{sweep_id}",)).fetchone()
        return row[0] if row else None
    finally:
        con.close()


def record(path: str | Path, sweep_id: str, rater: str, pair, left_arm: str, right_arm: str, choice: str) -> bool:
    """Store one vote (committed when this returns); False when the rater had already rated this pair."""
    check_rater(rater)
    if choice not in CHOICES:
        raise ValueError(f"choice {choice!r}: expected one of {', '.join(CHOICES)}")
    con = connect(path)
    try:
        with con:
            cur = con.execute("INSERT OR IGNORE INTO votes VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                              (sweep_id, rater, pair.key, pair.prompt_idx, pair.seed, left_arm, right_arm, choice,
                               datetime.now(timezone.utc).isoformat(timespec="milliseconds")))
        return cur.rowcount == 1
    finally:
        con.close()


def rated(path: str | Path, sweep_id: str, rater: str) -> set[str]:
    """The pair keys this rater has voted on (skips included) in this sweep."""
    con = connect(path)
    try:
        return {r[0] for r in con.execute("SELECT pair FROM votes WHERE sweep_id = ? AND rater = ?", (sweep_id, rater))}
    finally:
        con.close()


def load_votes(path: str | Path, sweep_id: str | None = None):
    """Every vote (of one sweep when `sweep_id` is given) as a DataFrame, one row each; empty when there is no database."""
    import pandas as pd

    cols = ["sweep_id", "rater", "pair", "prompt_idx", "seed", "left_arm", "right_arm", "choice", "time_utc"]
    if not Path(path).is_file():
        return pd.DataFrame(columns=cols)
    con = sqlite3.connect(path, timeout=10)
    try:
        where, args = ("WHERE sweep_id = ?", (sweep_id,)) if sweep_id is not None else ("", ())
        return pd.read_sql_query(f"SELECT {', '.join(cols)} FROM votes {where} ORDER BY time_utc", con, params=args)
    finally:
        con.close()
