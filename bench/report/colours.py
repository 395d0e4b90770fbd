"""One colour per backend in every figure of every report, from the registry's order."""
from guidance import BACKENDS

BACKEND_COLOURS = {name: f"C{i}" for i, name in enumerate(BACKENDS)}  # matplotlib's ten-colour cycle; nine backends


def colour(backend: str) -> str:
    return BACKEND_COLOURS.get(backend, "black")
