"""The house keeps its shape: layered packages with no import reaching back up, no cycles between files, small modules."""
import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# bottom up: each package may import only those before it (and itself)
LAYERS = ("guidance", "sdmodels", "scorers", "toyworld", "bench")
MAX_LINES = 300


def modules() -> dict[str, Path]:
    out = {}
    for pkg in LAYERS:
        for path in sorted((ROOT / pkg).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


def imports_of(name: str, path: Path) -> set[str]:
    """Every module of ours a file imports, at module level or inside a function, resolved to a module in `modules()`."""
    known = modules()
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names]
        else:
            continue
        for t in targets:
            while t and t not in known:
                t = t.rpartition(".")[0]
            if t and t != name:
                found.add(t)
    return found


GRAPH = {name: imports_of(name, path) for name, path in modules().items()}


@pytest.mark.parametrize("name", sorted(GRAPH))
def test_no_import_reaches_up_a_layer(name):
    mine = LAYERS.index(name.split(".")[0])
    above = sorted(t for t in GRAPH[name] if LAYERS.index(t.split(".")[0]) > mine)
    assert above == [], f"{name} imports {above}, which sit above it ({' < '.join(LAYERS)})"


def test_no_import_cycles_between_files():
    """Importing a package runs its __init__, so a module that imports a package depends on the __init__ too."""
    def deps(n):
        return GRAPH[n] - {n}

    state, cycles = {}, []

    def visit(n, stack):
        state[n] = "open"
        for d in deps(n):
            if state.get(d) == "open":
                cycles.append(stack[stack.index(d):] + [d])
            elif d not in state:
                visit(d, stack + [d])
        state[n] = "done"

    for n in sorted(GRAPH):
        if n not in state:
            visit(n, [n])
    assert cycles == []


def test_no_module_is_over_the_size_limit():
    long = {str(p.relative_to(ROOT)): n for p in modules().values() if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert long == {}, f"split these modules (over {MAX_LINES} lines): {long}"
