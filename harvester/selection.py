"""Which committees and meetings a harvest wants: names matched loosely, and the trailing window of a re-run."""

from __future__ import annotations

import re
from datetime import date, timedelta

from harvester.models import Committee

# Agendas appear about a week ahead; decisions and minutes follow a meeting by weeks.
WEEKS_BACK = 8
WEEKS_AHEAD = 4


def words_of(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+", text.lower().replace("&", " and "))


def committee_matches(wanted: str, committee: Committee) -> bool:
    """Returns whether a committee is the one asked for: by id, by name, or holding every word asked."""
    key = wanted.strip()
    if key == committee.id or key.lower() == committee.name.lower():
        return True
    name_words = set(words_of(committee.name))
    return bool(words_of(key)) and all(word in name_words for word in words_of(key))


def trailing_window(today: date) -> tuple[date, date]:
    """Returns the span a re-run looks at again: agendas ahead, decisions and minutes behind."""
    return today - timedelta(weeks=WEEKS_BACK), today + timedelta(weeks=WEEKS_AHEAD)
