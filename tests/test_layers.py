"""Import direction: indexer never imports search_app or flask; only three modules import whoosh."""

from __future__ import annotations

import ast
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WHOOSH_SEAM = {"indexer/schema.py", "indexer/store.py", "search_app/search.py"}


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module.split(".")[0])
    return names


def modules(package: str) -> list[Path]:
    return sorted((ROOT / package).glob("*.py"))


def test_indexer_never_imports_the_web_side() -> None:
    for path in modules("indexer"):
        assert not imports_of(path) & {"search_app", "flask", "werkzeug"}, path


def test_harvester_never_imports_the_web_side_or_whoosh() -> None:
    for path in modules("harvester"):
        assert not imports_of(path) & {"search_app", "flask", "werkzeug", "whoosh"}, path


def test_search_module_does_not_import_flask() -> None:
    assert "flask" not in imports_of(ROOT / "search_app" / "search.py")


def test_whoosh_stays_behind_its_seam() -> None:
    importers = {
        str(p.relative_to(ROOT)) for pkg in ("indexer", "search_app") for p in modules(pkg) if "whoosh" in imports_of(p)
    }
    assert importers <= WHOOSH_SEAM


def test_exactly_one_installed_package_provides_whoosh() -> None:
    providers = [
        d.metadata["Name"] for d in metadata.distributions() if "whoosh" in (d.read_text("top_level.txt") or "").split()
    ]
    assert providers == ["Whoosh-Reloaded"]
