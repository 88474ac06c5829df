"""Code versions for cache keys: a hash of the source of a step's module and of every
vidpipe module it imports, transitively, read from its import statements (those inside
functions too; not those under ``if TYPE_CHECKING:``, which never run). Editing any code
a step runs invalidates that step's cached outputs; no list of a step's modules is kept
by hand.

A package's ``__init__`` is followed only where an import names the package itself
(``from vidpipe.steps.base import X`` reads ``steps/base.py``, not the step registry in
``steps/__init__.py``), so editing one step leaves the others' keys alone. The modules in
:data:`BOOKKEEPING` are neither hashed nor followed: they count, report and stop, and
never touch a pixel (``tests/test_prepare.py`` holds both rules)."""

from __future__ import annotations

import ast
import importlib.util
import sys
import threading
from functools import lru_cache
from pathlib import Path

import vidpipe
from vidpipe.hashing import digest

ROOT = "vidpipe"
#: what counts, logs, reports and stops: no pixel depends on it (the settings reach a key as the step's config)
BOOKKEEPING = frozenset(
    {
        "vidpipe.config",
        "vidpipe.errors",
        "vidpipe.interrupt",
        "vidpipe.progress",
        "vidpipe.telemetry",
        "vidpipe.version",
    }
)


#: CPython 3.11's ast.parse keeps its recursion depth in state shared by threads: a parse interleaved with
#: another thread's fails with "SystemError: AST constructor recursion depth mismatch" (seen once in a worker's
#: flow run). vidpipe's parses go one at a time, and one that meets another library's parse is tried again.
_PARSING = threading.Lock()


def _parse(text: str) -> ast.AST:
    for _ in range(2):
        try:
            with _PARSING:
                return ast.parse(text)
        except SystemError:
            continue
    with _PARSING:  # a third time, and its error is the caller's
        return ast.parse(text)


def _file(module: str) -> Path | None:
    """The source file of ``module``, found without importing anything (a step's key is
    computed while planning, which must not load torch for a module it only names)."""
    if module == ROOT or module.startswith(ROOT + "."):
        base = Path(vidpipe.__file__).parent.joinpath(*module.split(".")[1:])
        return next((f for f in (base.with_suffix(".py"), base / "__init__.py") if f.is_file()), None)
    loaded = getattr(sys.modules.get(module), "__file__", None)  # a step defined outside vidpipe (a test, a plugin)
    if loaded:
        return Path(loaded)
    spec = importlib.util.find_spec(module)
    return Path(spec.origin) if spec is not None and spec.origin else None


@lru_cache(maxsize=None)
def source(module: str) -> str:
    """The text of ``module``'s file."""
    path = _file(module)
    if path is None or path.suffix != ".py":
        raise ImportError(f"no source file for {module}")
    return path.read_text(encoding="utf-8")


@lru_cache(maxsize=None)
def direct_imports(module: str) -> frozenset[str]:
    """The vidpipe modules named by ``module``'s import statements, anywhere in the file."""
    path = _file(module)
    package = module if path is not None and path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in _runtime_nodes(_parse(source(module))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = (
                importlib.util.resolve_name("." * node.level + (node.module or ""), package)
                if node.level
                else (node.module or "")
            )
            if not (base == ROOT or base.startswith(ROOT + ".")):
                continue
            for a in node.names:  # ``from vidpipe.models import store``: a module; ``import X`` from one: its module
                found.add(f"{base}.{a.name}" if _file(f"{base}.{a.name}") is not None else base)
    return frozenset(
        m for m in found if (m == ROOT or m.startswith(ROOT + ".")) and _file(m) is not None and m not in BOOKKEEPING
    )


def _runtime_nodes(tree: ast.AST):
    """Every node, except what sits under ``if TYPE_CHECKING:`` (imports for annotations only)."""
    todo = [tree]
    while todo:
        node = todo.pop()
        yield node
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and ast.unparse(child.test) in ("TYPE_CHECKING", "typing.TYPE_CHECKING"):
                todo.extend(child.orelse)
                continue
            todo.append(child)


@lru_cache(maxsize=None)
def imported(module: str) -> tuple[str, ...]:
    """``module`` and every vidpipe module it imports, transitively, sorted."""
    seen, todo = {module}, [module]
    while todo:
        for m in direct_imports(todo.pop()) - seen:
            seen.add(m)
            todo.append(m)
    return tuple(sorted(seen))


@lru_cache(maxsize=None)
def code_version(module: str) -> str:
    """16 hex digits over vidpipe's version and the source of everything ``module`` runs."""
    return digest(vidpipe.__version__, *((m, source(m)) for m in imported(module)))[:16]


def forget() -> None:
    """Read every module again on the next call (a test that edits a step's code)."""
    for fn in (source, direct_imports, imported, code_version):
        if hasattr(fn, "cache_clear"):  # a test may have put its own reader in place of ``source``
            fn.cache_clear()
