"""The rating page as a Flask app: a rater's queue of pairs, one vote per pair, images fetched by position.

A rater's queue is the plan's pairs in an order fixed per rater (`pairs.rater_order`); the page shows the
first pair without a vote, so a reload or a later visit resumes. Images are served by (rater, position in
the queue, side): the server alone maps that to a file, found from the plan and never from the request, and
refuses anything outside the sweep's images folder.
"""
from __future__ import annotations

from pathlib import Path

from flask import Flask, Response, abort, redirect, render_template_string, request, url_for

from bench.rate import votes
from bench.rate.page import DONE, PAGE, START
from bench.rate.pairs import Plan, left_is_a, rater_order

SIDES = ("left", "right")


def make_app(plan: Plan, db: str | Path) -> Flask:
    app = Flask(__name__)
    salt = votes.open_db(db)
    votes.set_plan(db, plan.sweep_id, plan.statement)
    images = (plan.sweep / "images").resolve()
    orders: dict[str, list[int]] = {}

    def queue(rater: str) -> list[int]:
        try:
            votes.check_rater(rater)
        except ValueError as e:
            abort(400, str(e))
        if rater not in orders:
            orders[rater] = rater_order(plan, rater, salt)
        return orders[rater]

    def shown(rater: str, pos: int) -> tuple:
        """(pair, left arm, right arm) at this position of the rater's queue."""
        order = queue(rater)
        if not 0 <= pos < len(order):
            abort(404)
        pair = plan.pairs[order[pos]]
        return (pair, pair.a, pair.b) if left_is_a(salt, rater, pair) else (pair, pair.b, pair.a)

    @app.get("/")
    def start():
        rater = request.args.get("rater")
        if rater is None:
            return render_template_string(START, total=len(plan.pairs), error=None)
        try:
            votes.check_rater(rater)
        except ValueError as e:
            return render_template_string(START, total=len(plan.pairs), error=str(e)), 400
        return redirect(url_for("page", rater=rater), 303)

    @app.get("/rate/<rater>")
    def page(rater: str):
        order = queue(rater)
        done = votes.rated(db, plan.sweep_id, rater)
        todo = [pos for pos, i in enumerate(order) if plan.pairs[i].key not in done]
        if not todo:
            return render_template_string(DONE, total=len(order))
        pair, _, _ = shown(rater, todo[0])
        return render_template_string(PAGE, rater=rater, pos=todo[0], done=len(order) - len(todo), total=len(order),
                                      prompt=plan.prompts[pair.prompt_idx])

    @app.post("/rate/<rater>/vote")
    def vote(rater: str):
        pos, choice = request.form.get("pos", type=int), request.form.get("choice")
        if pos is None or choice not in votes.CHOICES:
            abort(400, f"expected pos (an integer) and choice ({', '.join(votes.CHOICES)})")
        pair, left, right = shown(rater, pos)
        votes.record(db, plan.sweep_id, rater, pair, left, right, choice)
        return redirect(url_for("page", rater=rater), 303)

    @app.get("/image/<rater>/<int:pos>/<side>")
    def image(rater: str, pos: int, side: str):
        if side not in SIDES:
            abort(404)
        pair, left, right = shown(rater, pos)
        path = plan.image(pair, left if side == "left" else right).resolve()
        if not path.is_relative_to(images) or not path.is_file():
            abort(404)
        return Response(path.read_bytes(), mimetype="image/png", headers={"Cache-Control": "no-store"})

    return app
