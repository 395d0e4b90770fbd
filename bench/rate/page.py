"""The rating page's HTML (Jinja templates rendered by Flask). Blind by construction: the page gets only the
prompt, the rater, the position in the rater's queue and the progress; images are fetched by position and
side, so no URL, file name or alt text can name an arm."""

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Which image is better?</title>
<style>
body { font-family: sans-serif; max-width: 60em; margin: 1em auto; text-align: center; }
.pair { display: flex; gap: 1em; justify-content: center; }
.pair img { width: 24em; height: 24em; image-rendering: crisp-edges; border: 1px solid #999; }
button { font-size: 1.1em; margin: 0.3em; padding: 0.4em 1em; }
.prompt { font-size: 1.3em; margin: 0.6em; }
</style></head><body>
<p id="progress">{{ done + 1 }} of {{ total }}</p>
<p class="prompt" id="prompt">{{ prompt }}</p>
<div class="pair"><img id="left" src="{{ url_for('image', rater=rater, pos=pos, side='left') }}" alt="left image">
<img id="right" src="{{ url_for('image', rater=rater, pos=pos, side='right') }}" alt="right image"></div>
<form id="vote" method="post" action="{{ url_for('vote', rater=rater) }}">
<input type="hidden" name="pos" value="{{ pos }}">
<button name="choice" value="left" id="choose-left">Left is better (&larr;)</button>
<button name="choice" value="tie" id="choose-tie">Tie (&darr; or t)</button>
<button name="choice" value="right" id="choose-right">Right is better (&rarr;)</button>
<button name="choice" value="skip" id="choose-skip">Skip (s)</button>
</form>
<p>Which image shows the prompt better and looks better? Keys: &larr; left, &rarr; right, &darr; or t tie, s skip.</p>
<script>
const keys = {ArrowLeft: "left", ArrowRight: "right", ArrowDown: "tie", t: "tie", s: "skip"};
document.addEventListener("keydown", (e) => {
  const c = keys[e.key];
  if (c) { e.preventDefault(); document.getElementById("choose-" + c).click(); }
});
</script>
</body></html>
"""

START = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Rating</title></head><body style="font-family: sans-serif; text-align: center">
<h1>Pairwise rating</h1>
<p>Two images of the same prompt at a time: choose the better one, or call a tie, or skip. {{ total }} pairs.</p>
{% if error %}<p id="error" style="color: #a00">{{ error }}</p>{% endif %}
<form method="get" action="{{ url_for('start') }}"><label>Your rater id (letters, digits, - or _):
<input name="rater" id="rater" pattern="[A-Za-z0-9_-]{1,32}" required autofocus></label> <button id="begin">Start</button></form>
</body></html>
"""

DONE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Done</title></head><body style="font-family: sans-serif; text-align: center">
<p id="progress">{{ total }} of {{ total }}</p><h1 id="done">All pairs rated. Thank you.</h1></body></html>
"""
