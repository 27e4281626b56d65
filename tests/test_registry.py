"""The council registry shipped as data, and a user's corrections in council.json."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harvester.models import Portal
from harvester.registry import UnknownCouncil, find_council, read_registry, save_portal


def test_the_registry_lists_435_councils_with_their_folders() -> None:
    councils = read_registry()
    assert len(councils) == 435
    by_slug = {c.slug: c for c in councils}
    assert by_slug["croydon"].system == "moderngov" and by_slug["croydon"].code == "CRY"
    assert sum(c.system == "cmis" for c in councils) == 34


@pytest.mark.parametrize("wanted", ["croydon", "CRY", "London Borough of Croydon"])
def test_a_council_is_found_by_slug_code_or_name(wanted: str, tmp_path: Path) -> None:
    portal = find_council(wanted, tmp_path)
    assert (portal.slug, portal.system, portal.base_url) == ("croydon", "moderngov", "https://democracy.croydon.gov.uk")


def test_unknown_and_unreadable_councils_say_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(UnknownCouncil, match="--system moderngov\\|cmis --base-url"):
        find_council("atlantis", tmp_path)
    # Birmingham's meetings are listed as a custom site: not harvestable until corrected.
    with pytest.raises(UnknownCouncil, match="only ModernGov and CMIS"):
        find_council("birmingham", tmp_path)
    with pytest.raises(UnknownCouncil, match="several councils"):
        find_council("Tyne", tmp_path)


def test_council_json_corrects_the_registry(tmp_path: Path) -> None:
    (tmp_path / "birmingham").mkdir()
    (tmp_path / "birmingham" / "council.json").write_text(json.dumps({"name": "Birmingham City Council", "x": 1}))
    save_portal(tmp_path, Portal("birmingham", "Birmingham", "cmis", "https://birmingham.cmis.uk.com/birmingham/"))
    portal = find_council("birmingham", tmp_path)
    assert (portal.system, portal.base_url, portal.name) == (
        "cmis",
        "https://birmingham.cmis.uk.com/birmingham/",
        "Birmingham City Council",
    )
    assert json.loads((tmp_path / "birmingham" / "council.json").read_text())["x"] == 1
