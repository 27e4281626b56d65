"""Splits a paper into agenda items (number, title, body, start page); a paper with none is one item."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

from indexer.metadata import find_date
from indexer.models import AgendaItem, ExtractedText
from indexer.patterns import (
    ITEM_MARKER,
    MARKDOWN_MARKUP,
    MEETING_HEADING,
    MINUTES_HELD_ON,
    NUMBERED_ITEM,
    PAGE_RANGE_SUFFIX,
    PDF_ICON_SUFFIX,
    SLASH_ITEM,
    TIME_SUFFIX,
)

MAX_TITLE_WORDS = 28
BARE_NUMBER = re.compile(r"^(\d{1,3}[a-z]?)\.?$")
MONTH_YEAR = re.compile(r"^[A-Z][a-z]+,?\s+(?:19|20)\d\d$")
FRONT_MATTER = "Front matter"


@dataclass
class Line:
    """A line of a paper with the page it is on."""

    page: int
    text: str
    """The line as extracted."""
    clean: str
    """The line with Markdown markup, tabs and outer spaces removed, for matching."""


@dataclass
class Heading:
    """Where an item starts: its line index, number and title, and the lines its title used."""

    index: int
    number: str
    title: str
    used: int = 1
    earlier_meeting: date | None = None
    """The date of the earlier meeting whose minutes, printed in a pack, this item opens."""


def paper_lines(extracted: ExtractedText) -> list[Line]:
    """Returns every line of a paper with its page number."""
    lines = []
    for page in extracted.pages:
        for raw in page.text.split("\n"):
            clean = MARKDOWN_MARKUP.sub("", raw.replace("\t", " ")).replace("**", "").strip()
            lines.append(Line(page.number, raw, re.sub(r"\s{2,}", " ", clean)))
    return lines


def clean_title(title: str) -> str:
    """Returns an item title without page ranges, times, link sizes and trailing punctuation."""
    title = PDF_ICON_SUFFIX.sub("", title)
    for _ in range(2):
        title = PAGE_RANGE_SUFFIX.sub("", TIME_SUFFIX.sub("", title)).strip()
    return title.rstrip(" -–:").strip()


def looks_like_title(title: str) -> bool:
    """Returns whether text reads as an item title rather than a sentence of minutes."""
    words = title.split()
    if not words or len(words) > MAX_TITLE_WORDS or not (title[0].isupper() or title[0].isdigit()):
        return False
    if MONTH_YEAR.match(title) or (title[0].isdigit() and not re.match(r"\d+/\d+\b", title)):
        return False
    if title[-1] in ".,;:" and not title.isupper():
        return False
    if re.search(r"[a-z]\.\s+[A-Z]", title) or re.match(r"RESOLVED|AGREED|RECOMMEND", title):
        return False
    return not re.match(r"(?:That|The|It|This|In|A|An|Members?|Officers?)\s+[a-z]", title)


def find_marker_headings(lines: list[Line]) -> list[Heading]:
    """Returns headings of papers that put "(Item 4)" under each title, as Kent's minutes do."""
    headings = []
    for i, line in enumerate(lines):
        marker = ITEM_MARKER.match(line.clean)
        if not marker:
            continue
        above = [j for j in range(i - 1, max(-1, i - 5), -1) if lines[j].clean]
        if not above:
            continue
        number, start = marker.group(1), above[0]
        # A long title wraps over lines under its minute number: "88.  24/00108 - Revenue and ...".
        for j in above[:3]:
            numbered = NUMBERED_ITEM.match(lines[j].clean)
            joined = " ".join(ln.clean for ln in lines[j:i] if ln.clean)
            if numbered and looks_like_title(clean_title(joined[numbered.end(1) :].lstrip(". )"))):
                number, start = numbered.group(1), j
                break
        if start == above[0]:
            start = wrapped_title_start(lines, above)
        title = " ".join(ln.clean for ln in lines[start:i] if ln.clean)
        if numbered_line(lines[start].clean) and (start != above[0] or NUMBERED_ITEM.match(title)):
            title = title[len(number) :].lstrip(". )") if title.startswith(number) else title
        headings.append(Heading(start, number, clean_title(title), used=i - start + 1))
    return headings


def numbered_line(text: str) -> bool:
    """Returns whether a line opens with an item number."""
    return bool(NUMBERED_ITEM.match(text))


def wrapped_title_start(lines: list[Line], above: list[int]) -> int:
    """Returns the first line of a title that wraps above an "(Item N)" marker.

    "Adoption Partnership South East, Regional Adoption Agency Annual Report" / "2023/2024" / "(Item 6)":
    lines above the marker belong to the title while they do not end a sentence and still read as one.
    """
    start = above[0]
    first = clean_title(lines[start].clean)
    if looks_like_title(first) and first[0].isupper():
        return start
    for j in above[1:3]:
        text = lines[j].clean
        joined = " ".join(ln.clean for ln in lines[j : above[0] + 1] if ln.clean)
        if text[-1] in ".:;" or numbered_line(text) or not looks_like_title(clean_title(joined)):
            break
        start = j
    return start


def find_slash_headings(lines: list[Line]) -> list[Heading]:
    """Returns headings numbered as minute references, such as "16/21 Children in Care Performance Scorecard"."""
    headings = []
    for i, line in enumerate(lines):
        match = SLASH_ITEM.match(line.clean)
        if match and looks_like_title(clean_title(match.group(2))):
            headings.append(Heading(i, match.group(1), clean_title(match.group(2))))
    return headings


def join_title(lines: list[Line], i: int, title: str) -> tuple[str, int]:
    """Returns a title continued on the next lines when those end with the agenda's page range."""
    for extra in (1, 2):
        if i + extra >= len(lines) or not lines[i + extra].clean:
            break
        follow = lines[i + extra].clean
        if NUMBERED_ITEM.match(follow) and not re.match(r"^\d{1,4}\s*[-–)]", follow):
            break
        if PAGE_RANGE_SUFFIX.search(follow) or re.match(r"^\d{1,4}\s*[-–]\s*\d{1,4}\)?$", follow):
            joined = " ".join(ln.clean for ln in lines[i + 1 : i + extra + 1])
            return title + " " + joined, extra + 1
    return title, 1


def numbered_candidate(lines: list[Line], i: int) -> tuple[str, str, int] | None:
    """Returns (number, title, lines used) when line i opens a numbered item, on one line or two."""
    match = NUMBERED_ITEM.match(lines[i].clean)
    if match:
        title, used = join_title(lines, i, match.group(2))
        return match.group(1), clean_title(title), used
    bare = BARE_NUMBER.match(lines[i].clean)
    if bare:
        # ModernGov pages saved as text put "1." on its own line and the title below it.
        following = [j for j in range(i + 1, min(len(lines), i + 4)) if lines[j].clean]
        if following:
            return bare.group(1), clean_title(lines[following[0]].clean), following[0] - i + 1
    return None


def find_numbered_headings(lines: list[Line]) -> list[Heading]:
    """Returns headings numbered 1., 2. ... kept in sequence, so numbered paragraphs inside items are not taken."""
    headings: list[Heading] = []
    last = 0
    minutes_date: date | None = None
    minutes_seen = False
    earlier: date | None = None
    for i, line in enumerate(lines):
        if MINUTES_HELD_ON.search(line.clean):
            minutes_seen = True
            minutes_date = find_date(" ".join(ln.clean for ln in lines[i : i + 3]))
        candidate = numbered_candidate(lines, i)
        if candidate is None or not looks_like_title(candidate[1]):
            continue
        label, title, used = candidate
        number = int(re.sub(r"\D", "", label))
        in_sequence = not headings or number in (last + 1, last + 2) or label[-1].isalpha()
        # Minutes of an earlier meeting inside a pack start their numbering again at 1.
        restart = number == 1 and bool(headings) and (minutes_seen or title.isupper())
        if restart:
            earlier = minutes_date if minutes_seen else None
        if in_sequence or restart:
            headings.append(Heading(i, label, title, used, earlier))
            last = number
            minutes_seen = False
    return headings


def find_page_headings(lines: list[Line]) -> list[Heading]:
    """Returns item titles of a ModernGov meeting page saved as text, where numbers are lost.

    Titles stand alone after two or more blank lines, are short, and do not end a sentence; the
    "pdf icon PDF 124 KB" left by the report link marks them surely.
    """
    headings: list[Heading] = []
    blank = 0
    started = False
    expect_title = False
    for i, line in enumerate(lines):
        if not line.clean:
            blank += 1
            continue
        if re.match(r"^No\.?\s+Item$", line.clean) or (not headings and MEETING_HEADING.match(line.clean)):
            # The first line after the table header (or the meeting heading) is the first item's title.
            started = expect_title = True
        elif PDF_ICON_SUFFIX.search(line.clean) or ((blank >= 2 or expect_title) and started_page(lines, i, started)):
            title = clean_title(line.clean)
            # A title cut off at the end of an excerpt counts only if its report link shows it is one.
            is_last = not any(ln.clean for ln in lines[i + 1 :]) and not re.search(r"\spdf\b", line.clean, re.I)
            if (
                looks_like_title(title)
                and not is_last
                and not re.match(r"^(?:At|County Councillor|Councillor)\b", title)
            ):
                # The saved text lost the agenda numbers; an invented one would mislead.
                headings.append(Heading(i, "", title))
                started = True
            expect_title = False
        else:
            expect_title = False
        blank = 0
    return headings


def started_page(lines: list[Line], i: int, started: bool) -> bool:
    """Returns whether line i may be an item title: after the table header, short, not a sentence."""
    text = lines[i].clean
    return started and len(text) <= 100 and text[-1] not in ".:;," and not text.startswith(("-", "·", "§", "•"))


STRATEGIES: list[tuple[Callable[[list[Line]], list[Heading]], int]] = [
    (find_marker_headings, 2),
    (find_slash_headings, 2),
    (find_numbered_headings, 2),
    (find_page_headings, 2),
]


def choose_headings(lines: list[Line]) -> list[Heading]:
    """Returns the headings of the first strategy that finds enough of them."""
    for strategy, minimum in STRATEGIES:
        headings = strategy(lines)
        if len(headings) >= minimum:
            return headings
    return []


PAGE_BREAK = "\f"


def split_items(extracted: ExtractedText, document_title: str, single: bool = False) -> list[AgendaItem]:
    """Returns a paper's agenda items in order; text before the first item is kept as front matter.

    Args:
        single: the paper is one item by nature (an item, issue or decision page), so it is not split.
    """
    if extracted.items:
        return [
            AgendaItem(position=i, number=it.number, title=it.title, body=it.text, page=1)
            for i, it in enumerate(extracted.items)
        ]
    lines = paper_lines(extracted)
    headings = [] if single else choose_headings(lines)
    if not headings:
        return [whole_paper(lines, document_title)]
    items: list[AgendaItem] = []
    front = body_text(lines[: headings[0].index])
    if front.strip():
        items.append(AgendaItem(0, "", FRONT_MATTER, front, lines[0].page if lines else 1))
    for k, heading in enumerate(headings):
        end = headings[k + 1].index if k + 1 < len(headings) else len(lines)
        body = body_text(lines[heading.index + heading.used : end])
        item = AgendaItem(len(items), heading.number, heading.title, body, lines[heading.index].page)
        item.earlier_meeting = heading.earlier_meeting
        items.append(item)
    return items


def whole_paper(lines: list[Line], document_title: str) -> AgendaItem:
    """Returns a paper with no recognisable items as one item, titled by its item-page heading if any."""
    texts = [ln.clean for ln in lines if ln.clean]
    title = document_title
    if len(texts) > 1 and re.match(r"^(?:agenda item|issue\b.*|decision details)$", texts[0], re.I):
        title = texts[1][:200]
    return AgendaItem(0, "", title, body_text(lines), lines[0].page if lines else 1)


def body_text(lines: list[Line]) -> str:
    """Returns lines joined as text with runs of blank lines folded, and PAGE_BREAK before the first line of
    each page after the first: a passage's page is the item's page plus the breaks before it."""
    marked = []
    for k, ln in enumerate(lines):
        text = ln.text.replace(PAGE_BREAK, "").rstrip()
        if k and ln.page != lines[k - 1].page:
            text = PAGE_BREAK * (ln.page - lines[k - 1].page) + text
        marked.append(text)
    return re.sub(r"\n{3,}", "\n\n", "\n".join(marked)).strip(" \t\n\r")
