"""The loader's one error class: a ValueError, so the CLI reports it as one line and exits 2."""


class WeightsUnavailable(ValueError):
    """Weights that cannot be loaded: missing, broken, refused, or for another architecture."""


def first_line(e: BaseException) -> str:
    """An exception's first line, so a multi-line library message still fits one error line."""
    text = str(e).strip() or type(e).__name__
    return text.splitlines()[0]
