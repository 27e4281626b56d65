"""Compiled patterns for the papers' conventions: dates, item numbers, decisions, committees."""

from __future__ import annotations

import re

MONTHS = {
    name: number
    for number, names in enumerate(
        [
            ("january", "jan"),
            ("february", "feb"),
            ("march", "mar"),
            ("april", "apr"),
            ("may",),
            ("june", "jun"),
            ("july", "jul"),
            ("august", "aug"),
            ("september", "sep", "sept"),
            ("october", "oct"),
            ("november", "nov"),
            ("december", "dec"),
        ],
        start=1,
    )
    for name in names
}
_MONTH = "|".join(sorted(MONTHS, key=len, reverse=True))
_WEEKDAY = r"(?:monday|tuesday|wednesday|thursday|friday|saturday|sunday)"

# "Wednesday, 3rd July, 2019", "3 March 2021", "30th-Jan-2025", "Thursday 30 January 2025".
DAY_MONTH_YEAR = re.compile(
    rf"\b(?:{_WEEKDAY},?\s+)?(\d{{1,2}})(?:st|nd|rd|th)?[\s\-]+({_MONTH})\.?,?[\s\-]+((?:19|20)\d\d)\b",
    re.IGNORECASE,
)
# "March 3, 2021" (rare in UK papers but seen in exports).
MONTH_DAY_YEAR = re.compile(rf"\b({_MONTH})\s+(\d{{1,2}})(?:st|nd|rd|th)?,?\s+((?:19|20)\d\d)\b", re.IGNORECASE)
ISO_DATE = re.compile(r"\b((?:19|20)\d\d)-(\d\d)-(\d\d)\b")
# ModernGov's web service and many footers write dates as 21/11/2025.
UK_NUMERIC_DATE = re.compile(r"\b(\d{1,2})/(\d{1,2})/((?:19|20)\d\d)\b")
# "Corporate Parenting Panel - Tuesday, 29th September, 2020 5.00 pm": ModernGov's meeting heading.
MEETING_HEADING = re.compile(rf"^(.{{3,90}}?)\s+[-–]\s+{_WEEKDAY},?\s+\d", re.IGNORECASE)

# Croydon-style minute numbers: "16/21 Children in Care Performance Scorecard".
SLASH_ITEM = re.compile(r"^(\d{1,3}/\d{2,4})\.?\s+(\S.{1,160})$")
# "1. TITLE", "84.  Apologies", "1  DECLARATIONS OF INTEREST", "6.\tMINUTES\t1 - 8", "7a. Title".
NUMBERED_ITEM = re.compile(r"^(\d{1,3}[a-z]?)(?:\.|\)|\s)\s*(\S.{1,200})$")
# Kent's printed minutes put the agenda number on its own line under the title: "(Item 4)".
ITEM_MARKER = re.compile(r"^\(\s*Item\s+(\d{1,3}[a-z]?)\s*\)\s*$", re.IGNORECASE)
# Page references an agenda prints after an item title: "(Pages 11 - 84)", "1 - 8".
# A bare "2024-25" is a year, not a page range: bare ranges need spaces round the dash.
PAGE_RANGE_SUFFIX = re.compile(
    r"\s*\(Pages?\s+\d{1,4}\s*[-–]\s*\d{1,4}\)\s*$|\s+\d{1,4}\s+[-–]\s+\d{1,4}\s*$|\s+\(Pages?\s*$"
)
# Footer lines once digits are folded: "Page #", "# of #", "Page # of #".
FOLDED_PAGE_FOOTER = re.compile(r"^(?:page\s+)?#(?:\s+of\s+#)?$|\bpage #\b")
# A time a chair's agenda adds: "(2.10PM)".
TIME_SUFFIX = re.compile(r"\s*\(\d{1,2}[.:]\d\d\s*[ap]\.?m\.?\)\s*$", re.IGNORECASE)
# ModernGov link text left in page text: "Minutes of the previous meeting pdf icon PDF 124 KB".
# Page excerpts can end part-way through it: "Long Term Plan Update pdf ico".
PDF_ICON_SUFFIX = re.compile(r"\s*pdf icon\s+PDF\s+[\d.]+\s*[KM]B\s*$|\s+pdf(?: i(?:c(?:on?)?)?)?$", re.IGNORECASE)
# "MINUTES of the meeting ... held on Wednesday 8 July 2020": earlier minutes inside a pack.
MINUTES_HELD_ON = re.compile(r"\bminutes\b.{0,160}?\bheld\s+on\b", re.IGNORECASE | re.DOTALL)
# A pack's heading for the earlier minutes it carries: "MINUTES of the OPEN section ... held on".
PACK_MINUTES_HEADING = re.compile(r"^MINUTES\b[^\n]{0,160}(?i:held\s+on)", re.MULTILINE)

PAGE_NUMBER_LINE = re.compile(r"^\s*(?:page\s+)?\d{1,4}(?:\s+of\s+\d{1,4})?\s*$", re.IGNORECASE)
MARKDOWN_MARKUP = re.compile(r"^#{1,6}\s*|\*\*|__")

# Decision wording: "RESOLVED that ...", "RESOLVED:", "The Panel RESOLVED to ...", "RECOMMENDATION:",
# "ACTION –", "AGREED:", "Decision:", "Decisions:".
DECISION_START = re.compile(
    r"(?:^|(?<=[.:;]\s)|(?<=\n))"
    r"((?:The\s+(?:Panel|Board|Committee|Cabinet|Council|Sub-Committee|Executive|Forum|Group)\s+)?"
    r"(?:RESOLVED|RECOMMENDATIONS?|RECOMMENDED|ACTIONS?|AGREED|Resolved|Agreed|Decisions?|DECISIONS?)\b"
    r"\s*(?::|–|-|—|that|to|\(\d\))?)",
)
DECISION_WORD = re.compile(r"\b(RESOLVED|RECOMMENDATIONS?|RECOMMENDED|ACTIONS?|AGREED|DECISIONS?)\b", re.IGNORECASE)

COMMITTEE_WORDS = (
    "Panel|Board|Committee|Sub-Committee|Sub Committee|Cabinet|Executive|Forum|Council|Scrutiny Commission"
)
# "Corporate Parenting Panel", "Health and Wellbeing Board", "Audit Committee", "CABINET".
COMMITTEE_NAME = re.compile(
    rf"^((?:[A-Z][A-Za-z&',()]*\s+|and\s+|of\s+|for\s+|&\s+){{0,7}}(?:{COMMITTEE_WORDS}))\b",
)
COUNCIL_NAME = re.compile(r"\b(?:council|borough|county|city|corporation)\b", re.IGNORECASE)

# Doc types a title or file name announces, checked in order.
DOC_TYPE_WORDS = [
    (re.compile(r"public\s+reports\s+pack|agenda\s+pack|reports?\s+pack", re.I), "agenda-pack"),
    (re.compile(r"printed\s+minutes|\bminutes\b", re.I), "minutes"),
    (re.compile(r"agenda\s+front\s*sheet|\bagenda\b", re.I), "agenda"),
    (re.compile(r"\bappendix\b|\bannex\b", re.I), "appendix"),
    (re.compile(r"\bamendment\b|\bmotion\b", re.I), "motion"),
    (re.compile(r"\breport\b", re.I), "report"),
]
