"""The rating page in a real browser (headless Debian chromium through its chromium-driver; `make test` installs both).

One server, one browser, one small real toy-world sweep (conftest.toy_rate_sweep): a rater clicks and uses the
shortcuts, reloads and resumes; a second rater votes by the toy world's ground truth read from the images the
page showed, and its win rates are exactly the truth's on those images; the server is killed with SIGKILL and
no vote is lost; the votes fold into the uplift report and the headline. RATE_SCREENSHOT=PATH keeps the
screenshot for the README.
"""
from __future__ import annotations

import base64
import io
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.expected_conditions import staleness_of
from selenium.webdriver.support.ui import WebDriverWait

from bench.rate.pairs import make_plan
from bench.rate.votes import load_votes
from toyworld.world import toy_truth

PER_COMPARISON = 4  # 6 comparisons x 4 (prompt, seed) items: 24 pairs
KEYS = {"left": Keys.ARROW_LEFT, "right": Keys.ARROW_RIGHT, "tie": "t", "skip": "s"}
FETCH = """const done = arguments[arguments.length - 1];
Promise.all(["left", "right"].map(id => fetch(document.getElementById(id).src).then(r => r.arrayBuffer())
  .then(b => btoa(Array.from(new Uint8Array(b), c => String.fromCharCode(c)).join(""))))).then(done);"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def session(toy_rate_sweep, tmp_path_factory):
    folder, port = tmp_path_factory.mktemp("votes"), _free_port()
    db, log = folder / "votes.sqlite", open(folder / "server.log", "w")
    env = {**os.environ, "PYTHONPATH": str(Path.cwd())}
    server = subprocess.Popen([sys.executable, "-m", "bench", "rate", "--sweep", str(toy_rate_sweep), "--votes", str(db), "--port", str(port),
                               "--per-comparison", str(PER_COMPARISON)],
                              env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    for _ in range(600):
        try:
            urllib.request.urlopen(base + "/", timeout=1)
            break
        except OSError:
            assert server.poll() is None, (folder / "server.log").read_text()
            time.sleep(0.2)
    opts = webdriver.ChromeOptions()
    opts.binary_location = shutil.which("chromium")
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1100,760"):
        opts.add_argument(arg)
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=opts)  # Debian's driver: nothing downloaded
    yield driver, base, server, db, toy_rate_sweep
    driver.quit()
    if server.poll() is None:
        server.kill()
    server.wait()
    log.close()


def _progress(driver) -> str:
    _loaded(driver)
    return driver.find_element(By.ID, "progress").text


def _act(driver, choice: str, by_key: bool) -> None:
    before = driver.find_element(By.ID, "progress")
    if by_key:
        driver.find_element(By.TAG_NAME, "body").send_keys(KEYS[choice])
    else:
        driver.find_element(By.ID, f"choose-{choice}").click()
    WebDriverWait(driver, 20).until(staleness_of(before))  # the vote's answer is a new page
    _loaded(driver)


def _loaded(driver) -> None:
    WebDriverWait(driver, 20).until(lambda d: d.execute_script("return document.readyState") == "complete"
                                    and d.find_elements(By.ID, "progress") and "</html>" in d.page_source)


def _blind(source: str, plan) -> None:
    """Nothing in the page names an arm: no backend, scale, label, folder or file name; images only by side."""
    low = source.lower()
    for word in ["guided", "scale", "seed", ".png", "s+0", *{a.split()[0] for a in plan.images}, *plan.images]:
        assert word.lower() not in low, word
    assert sorted(re.findall(r'src="([^"]+)"', source)) == sorted(re.findall(r'src="(/image/\w+/\d+/(?:left|right))"', source))
    assert re.findall(r'alt="([^"]+)"', source) == ["left image", "right image"]


def test_rating_session_in_a_browser(session, tmp_path):
    driver, base, server, db, sweep = session
    plan = make_plan(sweep, per_comparison=PER_COMPARISON)
    total = len(plan.pairs)

    driver.get(base + "/?rater=not%20valid")
    assert "expected 1-32 letters" in driver.find_element(By.ID, "error").text
    driver.get(base + "/")
    driver.find_element(By.ID, "rater").send_keys("alice")
    driver.find_element(By.ID, "begin").click()
    assert _progress(driver) == f"1 of {total}"
    shot = tmp_path / "rate_page.png"
    driver.save_screenshot(str(shot))
    if os.environ.get("RATE_SCREENSHOT"):
        shutil.copy(shot, os.environ["RATE_SCREENSHOT"])
    # every shortcut and every button records its choice, in order
    plan_choices = [("left", True), ("right", True), ("tie", True), ("skip", True), ("left", False), ("right", False), ("tie", False)]
    for choice, by_key in plan_choices:
        _loaded(driver)
        _blind(driver.page_source, plan)
        _act(driver, choice, by_key)
    alice = load_votes(db)
    assert list(alice.choice) == [c for c, _ in plan_choices] and (alice.rater == "alice").all()
    assert set(alice.sweep_id) == {plan.sweep_id} and alice.pair.is_unique
    # a reload shows the same pair at the same progress; a rater who comes back resumes
    shown = (_progress(driver), driver.find_element(By.ID, "left").get_attribute("src"), driver.find_element(By.ID, "prompt").text)
    driver.refresh()
    assert (_progress(driver), driver.find_element(By.ID, "left").get_attribute("src"), driver.find_element(By.ID, "prompt").text) == shown
    assert shown[0] == f"{len(plan_choices) + 1} of {total}"
    driver.get(base + "/?rater=alice")
    assert _progress(driver) == shown[0]

    # a scripted rater votes by the ground truth of the two images the page showed
    driver.get(base + "/?rater=truthbot")
    seen = []
    for _ in range(total):
        _loaded(driver)
        _blind(driver.page_source, plan)
        imgs = [np.asarray(Image.open(io.BytesIO(base64.b64decode(b))).convert("RGB")) for b in driver.execute_async_script(FETCH)]
        t = toy_truth(np.stack(imgs).transpose(0, 3, 1, 2).astype(np.float32) / 127.5 - 1, [""] * 2)["truth"]
        seen.append(imgs)
        _act(driver, "left" if t[0] > t[1] else "right" if t[0] < t[1] else "tie", by_key=True)
    assert driver.find_element(By.ID, "done").text.startswith("All pairs rated")

    # killed without warning, the server has lost no vote
    server.send_signal(signal.SIGKILL)
    server.wait()
    votes = load_votes(db)
    assert len(votes) == len(plan_choices) + total and (votes.rater == "truthbot").sum() == total
    bot = votes[votes.rater == "truthbot"]
    assert set(bot.pair) == {p.key for p in plan.pairs}  # every pair once
    _check_truth_rater(plan, bot, seen)
    _check_report(sweep, db, tmp_path)


def _check_truth_rater(plan, bot, seen) -> None:
    """The scripted rater's win rates are exactly the ground truth's on the images shown, read from the sweep's files."""
    from bench.rate.analysis import bradley_terry, judge_agreement, win_rates
    from bench.uplift.analysis import samples

    by_key = {p.key: p for p in plan.pairs}
    shown = [np.asarray(Image.open(plan.image(by_key[r.pair], r.left_arm)).convert("RGB")) for r in bot.itertuples()]
    assert all((a[0] == b).all() for a, b in zip(seen, shown))  # the left image the page showed is the left arm's file
    df = samples(plan.sweep / "rows.jsonl")
    arms = {r.arm: (r.backend, float(r.scale)) for r in df.drop_duplicates("arm").itertuples()}
    truth = {}
    for r in bot.itertuples():
        for arm in (r.left_arm, r.right_arm):
            img = np.asarray(Image.open(plan.image(by_key[r.pair], arm)).convert("RGB"))[None].transpose(0, 3, 1, 2)
            truth[arm, r.pair] = float(toy_truth(img.astype(np.float32) / 127.5 - 1, [""])["truth"][0])
    wins = win_rates(bot, arms).set_index("arm")
    rows = df.set_index(["arm", "prompt_idx", "seed"]).truth  # the sweep's own truth column, computed before the PNG's rounding
    for arm in wins.index:
        against = [p for p in plan.pairs if p.a == "none" and p.b == arm]
        d = np.array([truth[arm, p.key] - truth["none", p.key] for p in against])
        assert wins.win_rate[arm] == float(((d > 0) + 0.5 * (d == 0)).mean()) and wins.n[arm] == d.size
        d = np.array([rows[arm, p.prompt_idx, p.seed] - rows["none", p.prompt_idx, p.seed] for p in against])
        assert wins.win_rate[arm] == float(((d > 0) + 0.5 * (d == 0)).mean())  # no pair here is a near tie that rounding flips
    assert judge_agreement(bot, df, ["truth"]).agreement[0] == 1.0
    bt = bradley_terry(bot, arms)
    assert np.isfinite(bt.strength).all() and (bt.ci_low <= bt.strength).all() and (bt.strength <= bt.ci_high).all()


def _check_report(sweep, db, tmp_path) -> None:
    from bench.report.uplift import write_report

    out = write_report(sweep, tmp_path / "rep" / "toy.md", tmp_path / "rep" / "headline.json", "cmd", votes=db)
    text = out.read_text()
    assert "## Human preference (blinded pairwise votes)" in text and "### Bradley-Terry strengths" in text and "| truth | " in text
    assert "Offered (the plan `rate` last served): 24 pairs: 6 comparisons x 4" in text
    head = json.loads((tmp_path / "rep" / "headline.json").read_text())
    assert all(0 <= v["human_win_rate"] <= 1 and v["human_n"] > 0 for v in head["backends"].values())
