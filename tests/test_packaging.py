"""The wheel works on its own: built from the source, installed in a fresh venv, it indexes, searches and serves.

The project's dependencies come from this venv's site-packages through a .pth file in the fresh venv (no
network); .pth files inside that directory are not processed, so the editable install of the repo is not
seen and every import of indexer, search_app and harvester is the installed wheel's.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import copy_paper

pytestmark = pytest.mark.packaging

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("indexer", "search_app", "harvester")
PAPERS = [
    # "EET" itself; "not in education, employment or training"; "looked after children", never "LAC".
    "thurrock/cpc_mgAi_20623_EET-for-care-leavers.txt",
    "croydon/cpp_mgAi_7412_care-leavers-NEET.txt",
    "croydon/cpp_mgAi_4090_placement-stability-sufficiency.txt",
    "kirklees/cpb_mgAi_18660_staying-put-fostering-policy.txt",
]

# Run by the fresh venv's python, outside the repo: where the packages come from, and the app's answers.
PROBE = """
import json, sys
import harvester, indexer, search_app
from search_app import create_app

index, corpus = sys.argv[1], sys.argv[2]
client = create_app({"INDEX_DIR": index, "CORPUS_DIR": corpus}).test_client()
# harvester has no __init__.py (a namespace package): its __path__ says where it was found.
out = {"paths": {m.__name__: list(m.__path__) for m in (indexer, search_app, harvester)}, "search": {}}
for query in ("q=EET", "q=EET&expand=0", "q=LAC", "q=LAC&expand=0&respell=0"):
    data = client.get("/api/search?" + query).get_json()
    out["search"][query] = {
        "sources": sorted(r["source"] for r in data["results"]),
        "expansions": data["expansions"],
    }
compare = client.get("/compare?q=care+leavers")
out["compare"] = [compare.status_code, compare.get_data(as_text=True)]
for name in ("compare.js", "style.css"):
    static = client.get("/static/" + name)
    out[name] = [static.status_code, len(static.data)]
print(json.dumps(out))
"""


@dataclass
class Installed:
    wheel: Path
    python: Path
    bin: Path
    work: Path
    env: dict[str, str]

    def run(self, *args: str | Path) -> subprocess.CompletedProcess[str]:
        """Runs a command with the fresh venv first on PATH, from a folder outside the repo."""
        result = subprocess.run(
            [str(a) for a in args], cwd=self.work, env=self.env, capture_output=True, text=True, timeout=300
        )
        assert result.returncode == 0, (args, result.stdout, result.stderr)
        return result


def project_site_packages() -> str:
    """Returns the site-packages of the venv running the tests (where the dependencies are installed)."""
    return sysconfig.get_paths()["purelib"]


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    tmp = tmp_path_factory.mktemp("packaging")
    # A copy of the source the wheel is built from, so the build's build/ and *.egg-info stay out of the repo.
    source = tmp / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copyfile(ROOT / name, source / name)
    for package in PACKAGES:
        shutil.copytree(ROOT / package, source / package, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    wheels = tmp / "wheels"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation", "--no-index"]
        + ["--disable-pip-version-check", "-w", str(wheels), str(source)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (wheel,) = wheels.glob("council_papers_search-*.whl")

    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, capture_output=True, timeout=300)
    python = venv / "bin" / "python"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV", "CPSEARCH_"))}
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    work = tmp / "elsewhere"
    work.mkdir()
    done = Installed(wheel, python, venv / "bin", work, env)
    done.run(python, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index", "--disable-pip-version-check", wheel)
    # The dependencies, after the wheel is installed (pip must not see the repo's own editable install).
    fresh = done.run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])").stdout.strip()
    (Path(fresh) / "project-dependencies.pth").write_text(project_site_packages() + "\n", encoding="utf-8")
    return done


def test_the_wheel_holds_every_data_file_the_packages_open(installed: Installed) -> None:
    names = set(zipfile.ZipFile(installed.wheel).namelist())
    needed = {
        "indexer/glossary.toml",
        "indexer/taxonomy.toml",
        "indexer/stopwords.txt",
        "search_app/static/compare.js",
        "search_app/static/style.css",
        "harvester/councils.csv",
        *(f"search_app/templates/{t.name}" for t in (ROOT / "search_app" / "templates").glob("*.html")),
        # Copied from npm by `make install`, which `make test` runs first.
        *(f"search_app/static/govuk/{f.name}" for f in (ROOT / "search_app" / "static" / "govuk").glob("*")),
    }
    assert "search_app/templates/compare.html" in needed and "search_app/static/govuk/chart.umd.min.js" in needed
    assert needed <= names, sorted(needed - names)


def test_the_installed_command_indexes_searches_and_serves(installed: Installed, tmp_path: Path) -> None:
    corpus, index = tmp_path / "corpus", tmp_path / "index"
    for paper in PAPERS:
        copy_paper(paper, corpus)
    built = installed.run(installed.bin / "cpsearch", "index", "--corpus", corpus, "--index", index, "--no-embeddings")
    assert "failed:" not in built.stdout, built.stdout
    found = installed.run(installed.bin / "cpsearch", "search", "looked after children", "--index", index)
    assert "placement-stability-sufficiency" in found.stdout, found.stdout

    probe = json.loads(installed.run(installed.python, "-c", PROBE, index, corpus).stdout)
    # Every package is the wheel's, in the fresh venv, not the repo's.
    assert set(probe["paths"]) == set(PACKAGES)
    for module, paths in probe["paths"].items():
        assert paths and all(Path(p).is_relative_to(installed.python.parent.parent) for p in paths), (module, paths)
        assert not any(Path(p).is_relative_to(ROOT) for p in paths), (module, paths)
    # The glossary shipped in the wheel: "EET" also finds the paper that only says "not in education,
    # employment or training", "LAC" the one that only says "looked after children"; without expansion
    # neither does. No paper here holds "LAC": it is a glossary form, so it is not "corrected" to "last".
    search = probe["search"]
    thurrock = "thurrock/cpc_mgAi_20623_EET-for-care-leavers.txt"
    neet = "croydon/cpp_mgAi_7412_care-leavers-NEET.txt"
    placements = "croydon/cpp_mgAi_4090_placement-stability-sufficiency.txt"
    assert search["q=EET"]["sources"] == sorted([thurrock, neet])
    assert search["q=EET&expand=0"]["sources"] == [thurrock]
    assert [e["term"] for e in search["q=EET"]["expansions"]] == ["EET"]
    assert "education, employment or training" in search["q=EET"]["expansions"][0]["added"]
    assert search["q=LAC"]["sources"] == [placements]
    assert "looked after children" in search["q=LAC"]["expansions"][0]["added"]
    assert search["q=LAC&expand=0&respell=0"]["sources"] == []
    # The compare page's template and script are in the package and served.
    status, html = probe["compare"]
    assert status == 200 and 'src="/static/compare.js"' in html
    assert probe["compare.js"][0] == 200 and probe["compare.js"][1] > 0
    assert probe["style.css"][0] == 200 and probe["style.css"][1] > 0
