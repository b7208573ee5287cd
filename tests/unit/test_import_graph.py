"""Every import arrow between top-level packages points into the core
(docs/architecture.md, Layout): ``lakehouse`` imports no adapter, test-support or script
package, not even lazily inside a function, and imports no engine (Scrapy, Twisted,
Spark, Airflow) at module level; the adapters (``scrapworker``, ``spark_jobs``,
``lakehouse_airflow``) do not import each other.

The checker parses the source with ``ast`` (no module is imported), so an import
inside a function counts as much as one at the top, and so does
``importlib.import_module("<name>")`` with a literal name.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]

CORE = "lakehouse"
ADAPTERS = ("scrapworker", "spark_jobs", "lakehouse_airflow")
NOT_FOR_PACKAGES = ("dags", "sandbox", "benchmarks")  # DAG files, the test API, scripts

# package -> top-level packages it may never import, anywhere in its code.
FORBIDDEN: dict[str, frozenset[str]] = {
    CORE: frozenset(ADAPTERS + NOT_FOR_PACKAGES),
    **{a: frozenset({*ADAPTERS, *NOT_FOR_PACKAGES} - {a}) for a in ADAPTERS},
}
# package -> engines it may import only inside functions (never when it is imported).
ENGINES_AT_IMPORT: dict[str, frozenset[str]] = {
    CORE: frozenset({"scrapy", "twisted", "pyspark", "airflow"}),
}


@dataclass(frozen=True, order=True)
class Violation:
    path: str
    line: int
    imported: str
    rule: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: imports {self.imported} ({self.rule})"


def _module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _resolve(module: str, is_package: bool, level: int, name: str | None) -> str:
    """The absolute name of a relative import (``from ..x import y`` in ``a.b.c``)."""
    if level == 0:
        return name or ""
    base = module.split(".")
    if not is_package:
        base = base[:-1]
    base = base[: len(base) - (level - 1)] if level > 1 else base
    return ".".join([*base, *([name] if name else [])])


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _run_at_import(statements: list[ast.stmt]) -> list[ast.stmt]:
    """The statements that run when the module is imported: the module body and the
    blocks inside it (class bodies too), but not function bodies, and not the body of
    ``if TYPE_CHECKING:``."""
    out: list[ast.stmt] = []
    for st in statements:
        out.append(st)
        if isinstance(st, ast.If):
            if not _is_type_checking(st.test):
                out.extend(_run_at_import(st.body))
            out.extend(_run_at_import(st.orelse))
        elif isinstance(st, (ast.Try, ast.TryStar)):
            for block in (st.body, *(h.body for h in st.handlers), st.orelse, st.finalbody):
                out.extend(_run_at_import(block))
        elif isinstance(st, (ast.With, ast.For, ast.While)):
            out.extend(_run_at_import(st.body))
            out.extend(_run_at_import(getattr(st, "orelse", [])))
        elif isinstance(st, ast.ClassDef):
            out.extend(_run_at_import(st.body))
    return out


def imports_of(root: Path, path: Path) -> list[tuple[int, str, bool]]:
    """(line, imported module, at module level?) for every import in ``path``."""
    tree = ast.parse(path.read_text(), filename=str(path))
    module = _module_name(root, path)
    is_package = path.name == "__init__.py"
    found: list[tuple[int, str, bool]] = []
    top_level = {id(node) for node in _run_at_import(tree.body)}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name, id(node) in top_level) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.module == "__future__":
                continue
            target = _resolve(module, is_package, node.level, node.module)
            found.append((node.lineno, target, id(node) in top_level))
            if node.module is None:  # from . import x: each name may be a module
                found.extend(
                    (node.lineno, f"{target}.{alias.name}".lstrip("."), id(node) in top_level) for alias in node.names
                )
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, (ast.Attribute, ast.Name))
            and (node.func.attr if isinstance(node.func, ast.Attribute) else node.func.id) == "import_module"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            found.append((node.lineno, node.args[0].value, False))
    return found


def violations(root: Path) -> list[Violation]:
    out: list[Violation] = []
    for package, forbidden in FORBIDDEN.items():
        engines = ENGINES_AT_IMPORT.get(package, frozenset())
        for path in sorted((root / package).rglob("*.py")):
            rel = str(path.relative_to(root))
            for line, imported, at_module_level in imports_of(root, path):
                top = imported.split(".")[0]
                if top in forbidden:
                    rule = (
                        "the core never imports an adapter" if package == CORE else "adapters do not import each other"
                    )
                    if top in NOT_FOR_PACKAGES:
                        rule = f"{top}/ is not importable from {package}/"
                    out.append(Violation(rel, line, imported, rule))
                elif top in engines and at_module_level:
                    out.append(Violation(rel, line, imported, "the core imports no engine at import time"))
    return sorted(set(out))


def test_every_import_arrow_points_into_the_core() -> None:
    found = violations(ROOT)
    assert not found, "import-graph violations:\n" + "\n".join(f"  {v}" for v in found)


# -- the checker itself --------------------------------------------------------------


def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return tmp_path


def test_the_checker_finds_offending_imports_even_inside_functions(tmp_path: Path) -> None:
    root = _tree(
        tmp_path,
        {
            "lakehouse/__init__.py": "",
            "lakehouse/local/__init__.py": "",
            "lakehouse/local/server.py": "def start():\n    from spark_jobs.session import build\n",
            "lakehouse/cli/__init__.py": "import importlib\nimportlib.import_module('lakehouse_airflow.operators')\n",
            "lakehouse/engines/engine.py": "import scrapy\n\ndef later():\n    import pyspark\n",
            "lakehouse/typed.py": "import typing\nif typing.TYPE_CHECKING:\n    from pyspark.sql import Row\n",
            "lakehouse/klass.py": "class A:\n    try:\n        import airflow\n    except ImportError:\n        pass\n",
            "scrapworker/__init__.py": "",
            "scrapworker/x.py": "from lakehouse import settings\nimport lakehouse_airflow.operators as ops\n",
            "spark_jobs/__init__.py": "",
            "spark_jobs/y.py": "from lakehouse.endpoints.slots import to_utc\nfrom . import z\n",
            "lakehouse_airflow/__init__.py": "",
            "lakehouse_airflow/dagmaker.py": "from sandbox import SandboxServer\n",
        },
    )
    found = {(v.path, v.imported) for v in violations(root)}
    assert found == {
        ("lakehouse/local/server.py", "spark_jobs.session"),
        ("lakehouse/cli/__init__.py", "lakehouse_airflow.operators"),
        ("lakehouse/engines/engine.py", "scrapy"),  # pyspark inside a function is allowed
        ("lakehouse/klass.py", "airflow"),  # a class body runs at import; TYPE_CHECKING does not
        ("scrapworker/x.py", "lakehouse_airflow.operators"),
        ("lakehouse_airflow/dagmaker.py", "sandbox"),
    }


def test_the_checker_resolves_relative_imports(tmp_path: Path) -> None:
    root = _tree(
        tmp_path,
        {
            "lakehouse/__init__.py": "",
            "lakehouse/a/__init__.py": "from .. import b\nfrom ..c import d\n",
            "lakehouse/a/m.py": "from . import n\nfrom ...scrapworker import spider\n",
        },
    )
    assert {v.imported for v in violations(root)} == {"scrapworker"}
    assert {i for _, i, _ in imports_of(root, root / "lakehouse/a/__init__.py")} == {
        "lakehouse",
        "lakehouse.b",
        "lakehouse.c",
    }


# -- no circles between files ----------------------------------------------------------------

CYCLE_PACKAGES = (CORE, *ADAPTERS)


def _modules(root: Path, package: str) -> dict[str, Path]:
    return {_module_name(root, p): p for p in sorted((root / package).rglob("*.py"))}


def _target_module(imported: str, known: dict[str, Path]) -> str | None:
    """The longest known module that ``imported`` names (``a.b.C`` -> ``a.b``)."""
    parts = imported.split(".")
    for end in range(len(parts), 0, -1):
        name = ".".join(parts[:end])
        if name in known:
            return name
    return None


def _type_checking_only(tree: ast.Module) -> set[int]:
    """ids of the import nodes under ``if TYPE_CHECKING:`` (never run, so no edge)."""
    out: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            out |= {id(n) for st in node.body for n in ast.walk(st)}
    return out


def file_graph(root: Path, package: str) -> dict[str, set[str]]:
    """module -> the modules of ``package`` it imports (at module level or in a function;
    not under ``if TYPE_CHECKING:``, which never runs).
    ``from pkg import name`` counts as an import of the module ``pkg.name`` when there is
    one, else of ``pkg``; the package's own ``__init__`` is not counted as an implicit
    import of each submodule."""
    known = _modules(root, package)
    graph: dict[str, set[str]] = {m: set() for m in known}
    for module, path in known.items():
        tree = ast.parse(path.read_text(), filename=str(path))
        is_package = path.name == "__init__.py"
        skip = _type_checking_only(tree)
        for node in ast.walk(tree):
            names: list[str] = []
            if id(node) in skip:
                continue
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module != "__future__":
                base = _resolve(module, is_package, node.level, node.module)
                for alias in node.names:
                    sub = f"{base}.{alias.name}"
                    names.append(sub if sub in known else base)
            for name in names:
                target = _target_module(name, known)
                if target is not None and target != module and not module.startswith(target + "."):
                    graph[module].add(target)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(found)


@pytest.mark.parametrize("package", CYCLE_PACKAGES)
def test_no_import_circles_between_files(package: str) -> None:
    graph = file_graph(ROOT, package)
    found = cycles(graph)
    detail = [" <-> ".join(c) + "\n      " + "; ".join(f"{m} -> {sorted(graph[m] & set(c))}" for m in c) for c in found]
    assert not found, f"import circles between files of {package}/ (break them):\n  " + "\n  ".join(detail)


def test_the_cycle_checker_finds_circles_through_functions_and_from_imports(tmp_path: Path) -> None:
    root = _tree(
        tmp_path,
        {
            "lakehouse/__init__.py": "",
            "lakehouse/a/__init__.py": "",
            "lakehouse/a/x.py": "from lakehouse.b import y\n",
            "lakehouse/b/__init__.py": "",
            "lakehouse/b/y.py": "def later():\n    from lakehouse.a.x import thing\n",
            "lakehouse/c.py": "from lakehouse import d\n",
            "lakehouse/d.py": "import lakehouse.c as c\n",
            "lakehouse/e.py": "from lakehouse.a import x\nimport lakehouse.f\n",
            # an annotation-only import back is no circle: it never runs
            "lakehouse/f.py": "import typing\nif typing.TYPE_CHECKING:\n    from lakehouse.e import z\n",
        },
    )
    assert cycles(file_graph(root, "lakehouse")) == [
        ["lakehouse.a.x", "lakehouse.b.y"],
        ["lakehouse.c", "lakehouse.d"],
    ]


# -- the layout table of docs/architecture.md ------------------------------------------------

LAYOUT_DOC = Path("docs/architecture.md")
OWN_PACKAGES = (CORE, *ADAPTERS, *NOT_FOR_PACKAGES)
_BACKTICKED = re.compile(r"`([^`]+)`")


def layout_table(text: str) -> dict[str, frozenset[str]]:
    """package -> what it may import, from the markdown table under ``## Layout``:
    first column a package in backticks, the column headed "may import" a list in
    backticks (``-``: nothing)."""
    section = re.search(r"^## Layout[ \t]*\n(.*?)(?=^## |\Z)", text, re.MULTILINE | re.DOTALL)
    assert section, f"{LAYOUT_DOC} has no '## Layout' section"
    rows = [
        [cell.strip() for cell in line.strip().strip("|").split("|")]
        for line in section[1].splitlines()
        if line.strip().startswith("|")
    ]
    assert len(rows) > 2, f"{LAYOUT_DOC}: no table under '## Layout'"
    header = [cell.lower() for cell in rows[0]]
    assert "may import" in header, f"{LAYOUT_DOC}: the layout table has no 'may import' column"
    column = header.index("may import")
    table: dict[str, frozenset[str]] = {}
    for row in rows[2:]:
        name = _BACKTICKED.search(row[0])
        assert name, f"{LAYOUT_DOC}: layout row {row[0]!r} names no package in backticks"
        table[name[1]] = frozenset(_BACKTICKED.findall(row[column])) - {"-"}
    return table


def unit_of(root: Path, module: str) -> str:
    """The layout-table name of the package that holds ``module``: ``lakehouse/<sub>/``
    or ``lakehouse/<file>.py`` inside the core, ``<package>/`` outside it, ``lakehouse``
    for the core's root (its version)."""
    parts = module.split(".")
    if parts[0] != CORE:
        return parts[0] + "/"
    if len(parts) == 1:
        return CORE
    return f"{CORE}/{parts[1]}/" if (root / CORE / parts[1]).is_dir() else f"{CORE}/{parts[1]}.py"


def layout_violations(root: Path, table: dict[str, frozenset[str]]) -> list[str]:
    out: list[str] = []
    for package in OWN_PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            module = _module_name(root, path)
            unit = unit_of(root, module)
            if unit == CORE:
                continue
            if unit not in table:
                out.append(f"{unit} has no row in the layout table of {LAYOUT_DOC}")
                continue
            for line, imported, _ in imports_of(root, path):
                if imported.split(".")[0] not in OWN_PACKAGES:
                    continue
                target = unit_of(root, imported)
                if target in (unit, CORE) or target in table[unit]:
                    continue
                out.append(f"{path.relative_to(root)}:{line}: imports {imported}, but {unit} may not import {target}")
    return sorted(set(out))


def test_every_import_is_allowed_by_the_layout_table() -> None:
    table = layout_table((ROOT / LAYOUT_DOC).read_text())
    found = layout_violations(ROOT, table)
    assert not found, (
        f"imports the layout table of {LAYOUT_DOC} does not allow (change the code, or the table "
        "if the new arrow is intended):\n  " + "\n  ".join(found)
    )


def test_every_row_of_the_layout_table_names_an_importable_package() -> None:
    table = layout_table((ROOT / LAYOUT_DOC).read_text())
    names = set(table) | {name for allowed in table.values() for name in allowed}
    malformed = sorted(n for n in names if not re.fullmatch(r"[a-z_]+/|lakehouse/[a-z_]+(/|\.py)", n))
    assert not malformed, f"{LAYOUT_DOC}: not a package or core module: {malformed}"


LAYOUT_SAMPLE = """# Architecture

## Layout

| package | what it holds | may import |
|---|---|---|
| `lakehouse/errors.py` | errors | - |
| `lakehouse/config/` | settings | `lakehouse/errors.py` |
| `lakehouse/queue/` | the queue | `lakehouse/config/`, `lakehouse/errors.py` |
| `lakehouse/not_built_yet/` | a package still to come | `lakehouse/config/` |
| `scrapworker/` | the worker | `lakehouse/queue/` |

## Contracts

| `lakehouse/queue/` | not part of the layout table | `lakehouse/raw/` |
"""


def test_the_layout_checker_reads_the_table_and_finds_what_it_does_not_allow(tmp_path: Path) -> None:
    table = layout_table(LAYOUT_SAMPLE)
    assert table["lakehouse/queue/"] == {"lakehouse/config/", "lakehouse/errors.py"}
    assert table["lakehouse/errors.py"] == frozenset()
    root = _tree(
        tmp_path,
        {
            "lakehouse/__init__.py": "__version__ = '1'\n",
            "lakehouse/errors.py": "",
            "lakehouse/config/__init__.py": "from lakehouse import __version__\n",
            "lakehouse/config/settings.py": "from lakehouse.errors import E\nfrom . import other\n",
            "lakehouse/queue/__init__.py": "",
            "lakehouse/queue/jobs.py": "def later():\n    from lakehouse.raw.layout import Manifest\n",
            "lakehouse/raw/__init__.py": "",
            "lakehouse/raw/layout.py": "",
            "scrapworker/__init__.py": "from lakehouse.queue.jobs import Job\nfrom lakehouse.config import settings\n",
        },
    )
    assert layout_violations(root, table) == sorted(
        {
            "lakehouse/raw/ has no row in the layout table of docs/architecture.md",
            "lakehouse/queue/jobs.py:2: imports lakehouse.raw.layout, "
            "but lakehouse/queue/ may not import lakehouse/raw/",
            "scrapworker/__init__.py:2: imports lakehouse.config, but scrapworker/ may not import lakehouse/config/",
        }
    )
