"""Import direction, package by package: who may import what, and Whoosh in one module only."""

from __future__ import annotations

import ast
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("indexer", "search_app", "harvester")
WEB = {"flask", "werkzeug", "jinja2", "markupsafe"}
# The blueprints and what only they use; everything else in search_app is the search side.
VIEWS = {
    "api",
    "pages",
    "exports",
    "alerts",
    "alert_mail",
    "views",
    "errors",
    "params",
    "site",
    "contract",
    "server",
    "wsgi",
    "cli",
    "__init__",
}
# The modules that may open the index backend: the store that opens generations, and analysis for the stemmer.
BACKEND = "indexer.whoosh_backend"
BACKEND_USERS = {"indexer/store.py", "indexer/analysis.py"}


def imports_of(path: Path) -> set[str]:
    """Returns the dotted names a module imports (both `import a.b` and `from a.b import c` give a.b)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def tops(names: set[str]) -> set[str]:
    return {name.split(".")[0] for name in names}


def modules(package: str) -> list[Path]:
    return sorted((ROOT / package).glob("*.py"))


def relative(path: Path) -> str:
    return str(path.relative_to(ROOT))


def test_indexer_imports_neither_the_web_side_nor_the_harvester() -> None:
    for path in modules("indexer"):
        assert not tops(imports_of(path)) & {"search_app", "harvester", *WEB}, path


def test_harvester_never_imports_the_web_side_or_the_index_backend() -> None:
    for path in modules("harvester"):
        imported = imports_of(path)
        assert not tops(imported) & {"search_app", "whoosh", *WEB}, path
        assert BACKEND not in imported and "indexer.store" not in imported, path


def test_the_search_side_knows_no_web_framework() -> None:
    for path in modules("search_app"):
        if path.stem not in VIEWS:
            assert not tops(imports_of(path)) & WEB, path


def test_views_do_not_reach_into_the_backend_or_the_engine() -> None:
    engine = {f"search_app.{m}" for m in ("postings", "evaluate", "pipeline", "ranking", "query", "facets")}
    for path in modules("search_app"):
        if path.stem in VIEWS:
            imported = imports_of(path)
            assert not imported & {BACKEND, "indexer.backend", *engine}, (path, imported & engine)


def test_only_the_harvest_command_imports_the_harvester() -> None:
    users = {relative(p) for p in modules("search_app") if "harvester" in tops(imports_of(p))}
    assert users <= {"search_app/cli.py"}


def test_whoosh_is_imported_by_one_module() -> None:
    importers = {relative(p) for pkg in PACKAGES for p in modules(pkg) if "whoosh" in tops(imports_of(p))}
    assert importers == {"indexer/whoosh_backend.py"}
    users = {relative(p) for pkg in PACKAGES for p in modules(pkg) if any(n.startswith(BACKEND) for n in imports_of(p))}
    assert users <= BACKEND_USERS


def test_exactly_one_installed_package_provides_whoosh() -> None:
    providers = [
        d.metadata["Name"] for d in metadata.distributions() if "whoosh" in (d.read_text("top_level.txt") or "").split()
    ]
    assert providers == ["Whoosh-Reloaded"]
