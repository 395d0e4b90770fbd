"""Blinded pairwise human preference: a local rating page over a sweep's images, votes in SQLite, their analysis.

    pairs.py     which pairs a sweep offers (guided vs unguided, guided vs guided), each with its two image files
    votes.py     the vote database (SQLite, WAL): one vote per rater and pair, committed before the page moves on
    page.py      the page's HTML template (nothing in it names an arm)
    server.py    the Flask app: the page, the votes, the images by opaque position
    analysis.py  win rates against unguided, a Bradley-Terry fit over every arm, agreement between raters and with each judge
"""
