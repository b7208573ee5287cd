"""Every import arrow between top-level packages points into the core
(ARCHITECTURE.md, Layout): ``lakehouse`` imports no adapter, test-support or script
package, not even lazily inside a function, and imports no engine (Scrapy, Twisted,
Spark, Airflow) at module level; the adapters (``scrapworker``, ``spark_jobs``,
``lakehouse_airflow``) do not import each other.

The checker parses the source with ``ast`` (no module is imported), so an import
inside a function counts as much as one at the top, and so does
``importlib.import_module("<name>")`` with a literal name.
"""

from __future__ import annotations

import ast
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
            "lakehouse/engine.py": "import scrapy\n\ndef later():\n    import pyspark\n",
            "lakehouse/typed.py": "import typing\nif typing.TYPE_CHECKING:\n    from pyspark.sql import Row\n",
            "lakehouse/klass.py": "class A:\n    try:\n        import airflow\n    except ImportError:\n        pass\n",
            "scrapworker/__init__.py": "",
            "scrapworker/x.py": "from lakehouse import settings\nimport lakehouse_airflow.operators as ops\n",
            "spark_jobs/__init__.py": "",
            "spark_jobs/y.py": "from lakehouse.slots import to_utc\nfrom . import z\n",
            "lakehouse_airflow/__init__.py": "",
            "lakehouse_airflow/dagmaker.py": "from sandbox import SandboxServer\n",
        },
    )
    found = {(v.path, v.imported) for v in violations(root)}
    assert found == {
        ("lakehouse/local/server.py", "spark_jobs.session"),
        ("lakehouse/cli/__init__.py", "lakehouse_airflow.operators"),
        ("lakehouse/engine.py", "scrapy"),  # pyspark inside a function is allowed
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
