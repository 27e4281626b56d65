"""ModernGov specifics: "Agenda and minutes" page rows, and web-service XML read as papers or metadata."""

from __future__ import annotations

import html
import re
from datetime import date

from bs4 import BeautifulSoup, Tag

from indexer.errors import ExtractionError, SkipFile
from indexer.extract_text import decode_bytes, normalise_text
from indexer.models import ExtractedItem, ExtractedText, Page
from indexer.patterns import PDF_ICON_SUFFIX, UK_NUMERIC_DATE

# Responses that describe committees or people rather than a meeting: read for metadata, not indexed.
METADATA_RESPONSES = {"committees", "getmeetings", "attachment", "councillors", "councillorsbyward"}


def read_meeting_page_items(soup: BeautifulSoup) -> list[ExtractedItem]:
    """Returns the agenda items of a ModernGov "Agenda and minutes" table (mgItemTable), if any."""
    table = soup.find(id="mgItemTable") or soup.find(class_="mgItemTable")
    if not isinstance(table, Tag):
        return []
    items = []
    for row in table.find_all("tr"):
        cells = row.find_all("td", recursive=False)
        if len(cells) < 2:
            continue
        number = cells[0].get_text(" ", strip=True).rstrip(".")
        title_tag = cells[1].find("p", class_="mgAiTitleTxt")
        title = PDF_ICON_SUFFIX.sub("", title_tag.get_text(" ", strip=True)) if title_tag else ""
        for actions in cells[1].find_all("ul", class_="mgActionList"):
            actions.decompose()
        if title_tag:
            title_tag.decompose()
        body = "\n".join(
            block.get_text(" ", strip=True)
            for block in cells[1].find_all(["p", "div", "li"])
            if not block.find(["p", "div"]) and block.get_text(strip=True)
        )
        if title or body:
            items.append(ExtractedItem(number=number, title=re.sub(r"\s+PDF\s+[\d.]+\s*[KM]B$", "", title), text=body))
    return items


def parse_uk_date(text: str) -> date | None:
    """Returns the date in a dd/mm/yyyy string, or None."""
    match = UK_NUMERIC_DATE.search(text or "")
    if not match:
        return None
    day, month, year = (int(g) for g in match.groups())
    try:
        return date(year, month, day)
    except ValueError:
        return None


def html_fragment_text(fragment: str) -> str:
    """Returns the text of an HTML fragment carried inside the XML, one paragraph a line."""
    soup = BeautifulSoup(fragment or "", "lxml")
    blocks = [
        re.sub(r"\s+", " ", b.get_text(" ", strip=True))
        for b in soup.find_all(["p", "li", "h1", "h2", "h3", "h4", "td"])
        if not b.find(["p", "li", "td"])
    ]
    text = "\n".join(b for b in blocks if b) or soup.get_text(" ", strip=True)
    return normalise_text(text)


def extract_web_service(data: bytes, relpath: str) -> ExtractedText:
    """Returns a GetMeeting response as a paper with its items; raises SkipFile for metadata responses."""
    soup = BeautifulSoup(decode_bytes(data, relpath), "xml")
    root = next((c for c in soup.children if isinstance(c, Tag)), None)
    if root is None:
        raise ExtractionError(relpath, "XML file holds no elements")
    if root.name.lower() != "meeting":
        if root.name.lower() in METADATA_RESPONSES:
            raise SkipFile(relpath, f"ModernGov {root.name} response: metadata, not a paper")
        raise SkipFile(relpath, f"XML <{root.name}> is not a ModernGov GetMeeting response")
    items = []
    for node in root.find_all("agendaitem"):
        number = text_of(node, "fulldisplaynumberformat").rstrip(".") or text_of(node, "agendaitemnumber")
        agenda = html_fragment_text(text_of(node, "agendatext", raw=True))
        minutes = html_fragment_text(text_of(node, "minutesnonemptyhtmlbody", raw=True))
        decision = html_fragment_text(text_of(node, "decisionnonemptyhtmlbody", raw=True))
        # The decision as published ("RESOLVED: (1) to submit ...") comes before the minutes' narrative.
        parts = (agenda, "Decision:\n" + decision if decision else "", "Minutes:\n" + minutes if minutes else "")
        body = "\n".join(part for part in parts if part)
        items.append(ExtractedItem(number=number, title=text_of(node, "agendaitemtitle"), text=body))
    committee = next((t.get_text(strip=True) for t in root.find_all("committeetitle") if t.get_text(strip=True)), "")
    meeting_date = parse_uk_date(text_of(root, "meetingdate"))
    metadata = {"committee": committee}
    if meeting_date:
        metadata["date"] = meeting_date.isoformat()
    text = "\n\n".join(f"{i.number}. {i.title}\n{i.text}" for i in items)
    return ExtractedText(pages=[Page(1, text)], format="moderngov-xml", metadata=metadata, items=items)


def text_of(node: Tag, name: str, raw: bool = False) -> str:
    """Returns the text of a direct or nested child element, or ''."""
    child = node.find(name)
    if not isinstance(child, Tag):
        return ""
    if raw:
        return child.get_text()
    # Titles arrive escaped twice ("Members&#39; Question Time").
    return html.unescape(re.sub(r"\s+", " ", child.get_text(" ", strip=True)))


def read_committee_names(data: bytes) -> dict[str, str]:
    """Returns committee id -> title from a GetCommittees response."""
    soup = BeautifulSoup(data, "xml")
    names = {}
    for node in soup.find_all("committee"):
        cid, title = text_of(node, "committeeid"), text_of(node, "committeetitle")
        if cid and title:
            names[cid] = title
    return names
