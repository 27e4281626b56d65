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
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "make test" in ci and "make lint" in ci


def readme_commands() -> dict[str, set[str]]:
    """Returns each `cpsearch <command>` the README shows with the --options it writes after it."""
    commands: dict[str, set[str]] = {}
    # Shell lines (.venv/bin/cpsearch ... up to a comment or redirection) and `cpsearch ...` spans in prose.
    # A group's subcommand is part of the command: `cpsearch alerts send --dry-run`.
    for command, rest in re.findall(r"\.venv/bin/cpsearch ((?:alerts |cluster )?\w+)([^#>\n]*)", README) + re.findall(
        r"`cpsearch ((?:alerts |cluster )?\w+)([^`\n]*)`", README
    ):
        commands.setdefault(command, set()).update(re.findall(r"(?<!\S)--[a-z][a-z-]*", rest))
    return commands


def test_cli_commands_in_readme_exist() -> None:
    commands = readme_commands()
    assert {"index", "serve", "search", "harvest"} <= set(commands)
    assert {"--corpus", "--index", "--full", "--no-embeddings"} <= commands["index"]
    for command, options in commands.items():
        result = CliRunner().invoke(main, [*command.split(), "--help"], terminal_width=200)
        assert result.exit_code == 0, (command, result.output)
        listed = set(re.findall(r"^\s+(?:-\w, )?(--[a-z][a-z-]*)", result.output, re.M))
        assert options <= listed, (command, options - listed)
        # The help ends its description with an example of the command itself.
        assert re.search(rf"^\s*Example: cpsearch {command} ", result.output, re.M), (command, result.output)


def test_api_example_fields_are_what_the_api_returns(client: FlaskClient) -> None:
    example = json.loads(re.search(r"```json\n(.*?)```", README, re.S).group(1).replace("...", ""))  # type: ignore[union-attr]
    real = client.get("/api/search?q=Staying+Put").get_json()
    assert set(example) == set(real)
    assert set(example["results"][0]) == set(real["results"][0])
    assert set(example["facets"]) == set(real["facets"])
