"""Which councils exist and where they publish: the shipped list, corrected by corpus/<slug>/council.json."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

from harvester.ledger import write_atomic
from harvester.models import Portal

REGISTRY = Path(__file__).resolve().parent / "councils.csv"
SYSTEMS = {"moderngov": "moderngov", "cmis": "cmis"}


class UnknownCouncil(ValueError):
    """A council the registry does not list, or lists on a system the harvester cannot read."""


def slug_of(row: dict[str, str]) -> str:
    """Returns the corpus folder for a registry row: the scraper folder without its code."""
    folder = row.get("scraper_dir") or row.get("code") or ""
    code = row.get("code") or ""
    if code and folder.upper().startswith(code.upper() + "-"):
        folder = folder[len(code) + 1 :]
    return re.sub(r"[^a-z0-9]+", "-", folder.lower()).strip("-")


def read_registry(path: Path = REGISTRY) -> list[Portal]:
    """Returns every council in the registry file, whatever its system."""
    with path.open(encoding="utf-8", newline="") as fh:
        return [
            Portal(
                slug=slug_of(row),
                name=row.get("official_name", "").strip(),
                system=(row.get("cms_type") or "").strip().lower(),
                base_url=(row.get("base_url") or "").strip(),
                code=(row.get("code") or "").strip(),
            )
            for row in csv.DictReader(fh)
        ]


def find_council(wanted: str, corpus: Path, registry: Path = REGISTRY) -> Portal:
    """Returns the portal for a council named by slug, LGSF code or name; council.json's portal wins."""
    key = wanted.strip().lower()
    rows = read_registry(registry)
    matches = [p for p in rows if key in (p.slug, p.code.lower(), p.name.lower())]
    if not matches:
        matches = [p for p in rows if key in p.name.lower()]
    local = read_local_portal(corpus, key)
    if local is not None:
        base = matches[0] if len(matches) == 1 else Portal(key, "", "", "")
        portal = Portal(key, local.get("name") or base.name or key, local["system"], local["base_url"], base.code)
    elif len(matches) == 1:
        portal = matches[0]
        local_name = read_council_name(corpus, portal.slug)
        portal = Portal(portal.slug, local_name or portal.name, portal.system, portal.base_url, portal.code)
    elif matches:
        names = ", ".join(f"{p.slug} ({p.name})" for p in matches[:6])
        raise UnknownCouncil(f"{wanted!r} matches several councils: {names}; give the slug")
    else:
        raise UnknownCouncil(
            f"{wanted!r} is not in the council registry; add it with --system moderngov|cmis --base-url URL"
        )
    return check_portal(portal)


def check_portal(portal: Portal) -> Portal:
    """Returns the portal with its system normalised; raises UnknownCouncil when it cannot be harvested."""
    system = SYSTEMS.get(portal.system.replace(" ", "").lower())
    if system is None:
        what = portal.system or "no system"
        raise UnknownCouncil(
            f"{portal.slug}: the registry lists {what}; only ModernGov and CMIS can be harvested "
            "(correct it with --system and --base-url if the council has moved)"
        )
    if not portal.base_url.startswith(("http://", "https://")):
        raise UnknownCouncil(f"{portal.slug}: no base URL; give one with --base-url")
    return Portal(portal.slug, portal.name, system, portal.base_url, portal.code)


def read_council_json(corpus: Path, slug: str) -> dict:
    path = corpus / slug / "council.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def read_council_name(corpus: Path, slug: str) -> str:
    return str(read_council_json(corpus, slug).get("name") or "").strip()


def read_local_portal(corpus: Path, slug: str) -> dict[str, str] | None:
    """Returns {system, base_url, name} from corpus/<slug>/council.json's portal block, if it has one."""
    data = read_council_json(corpus, slug)
    portal = data.get("portal")
    if not isinstance(portal, dict) or not portal.get("system") or not portal.get("base_url"):
        return None
    return {"system": str(portal["system"]), "base_url": str(portal["base_url"]), "name": str(data.get("name") or "")}


def save_portal(corpus: Path, portal: Portal) -> None:
    """Writes the council's name and portal into corpus/<slug>/council.json, keeping its other keys."""
    data = read_council_json(corpus, portal.slug)
    data.setdefault("name", portal.name)
    data["portal"] = {"system": portal.system, "base_url": portal.base_url}
    write_atomic(corpus / portal.slug / "council.json", (json.dumps(data, indent=2) + "\n").encode())


def ensure_council_json(corpus: Path, portal: Portal) -> None:
    """Writes corpus/<slug>/council.json with the council's name when the folder has none yet."""
    path = corpus / portal.slug / "council.json"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"name": portal.name}, indent=2) + "\n", encoding="utf-8")
