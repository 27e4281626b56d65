"""The README's commands and API fields exist in the code."""

from __future__ import annotations

import json
import re
from pathlib import Path

from click.testing import CliRunner
from flask.testing import FlaskClient

from search_app.cli import main

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_quick_start_is_the_two_make_targets() -> None:
    quick_start = README.split("## Quick start", 1)[1].split("```")[1]
    assert quick_start.split() == ["make", "serve", "make", "test"]
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    for target in ("serve", "test", "lint", "fmt", "index"):
        assert re.search(rf"^{target}:", makefile, re.M), target
    assert "make test" in (ROOT / ".ci" / "run").read_text(encoding="utf-8")


def test_cli_commands_in_readme_exist() -> None:
    for command in re.findall(r"\.venv/bin/cpsearch (\w+)", README):
        assert CliRunner().invoke(main, [command, "--help"]).exit_code == 0, command


def test_api_example_fields_are_what_the_api_returns(client: FlaskClient) -> None:
    example = json.loads(re.search(r"```json\n(.*?)```", README, re.S).group(1).replace("...", ""))  # type: ignore[union-attr]
    real = client.get("/api/search?q=Staying+Put").get_json()
    assert set(example) == set(real)
    assert set(example["results"][0]) == set(real["results"][0])
    assert set(example["facets"]) == set(real["facets"])
