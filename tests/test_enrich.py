"""Decision sentences and topics found in real items."""

from __future__ import annotations

from pathlib import Path

from indexer.decisions import find_decisions
from indexer.topics import load_taxonomy, tag_topics

CORPUS = Path(__file__).resolve().parent.parent / "corpus"
SCORECARD = CORPUS / "croydon/cpp_2021-03-03_mgAi_children-in-care-performance-scorecard_seed001.txt"


def test_croydon_recommendation_and_action() -> None:
    decisions = find_decisions(SCORECARD.read_text(encoding="utf-8"))
    assert decisions == [
        "RECOMMENDATION: To review the Staying Put policy and ensure it incorporates young people with additional "
        "needs living in an independent accommodation, which would be fed into the SEN Strategy Board.",
        "ACTION– The Chair recommended for available data of neighbouring authorities or good practice to benchmark "
        "employment, education and training to be provided in the future meeting.",
    ]


def test_resolved_with_numbered_clauses_kept_together() -> None:
    body = (
        "The director introduced the report.\nRESOLVED:\n1. That the contents of the report be noted.\n"
        "2. That the schedule be developed.\nThe meeting closed."
    )
    assert find_decisions(body) == [
        "RESOLVED: 1. That the contents of the report be noted. 2. That the schedule be developed."
    ]


def test_panel_resolved_and_wrapped_pdf_lines() -> None:
    body = (
        "3.  RESOLVED that the minutes of the meeting held on 29 October 2024 were a correct\n"
        "record and that they be signed by the Chair."
    )
    assert find_decisions(body) == [
        "RESOLVED that the minutes of the meeting held on 29 October 2024 were a correct record "
        "and that they be signed by the Chair."
    ]
    assert find_decisions("The Panel RESOLVED to approve the Annual Report 2018/19.") == [
        "The Panel RESOLVED to approve the Annual Report 2018/19."
    ]


def test_mentions_of_decisions_are_not_decisions() -> None:
    assert find_decisions("Decisions about placements were discussed at length by members.") == []


def test_taxonomy_is_data_with_enough_topics() -> None:
    topics = load_taxonomy()
    assert len(topics) >= 25
    assert {"staying-put", "eet", "care-leavers", "uasc", "fostering"} <= {t.slug for t in topics}


def test_topics_of_the_croydon_scorecard() -> None:
    topics = tag_topics("Children in Care Performance Scorecard", SCORECARD.read_text(encoding="utf-8"))
    assert {"performance", "staying-put", "eet"} <= set(topics)


def test_passing_mention_is_not_a_topic() -> None:
    assert "fostering" not in tag_topics("Work Programme", "The next meeting will hear from a foster carer.")


def test_decision_labels_on_their_own_line() -> None:
    dorset = (CORPUS / "dorset/hwb_ieListDocuments_CId431_MId4625_2020-09-23.txt").read_text(encoding="utf-8")
    assert (
        "Decision: That Cllr Rebecca Knox be elected Chairman for the remainder of the year 2020/2021."
        in find_decisions(dorset)
    )
    argyll = (
        CORPUS
        / "argyll-and-bute/policy-resources_ieDecisionDetails_AIId153090_UASC-national-transfer-scheme_2021-12-09.txt"
    ).read_text(encoding="utf-8")
    first = find_decisions(argyll)[0]
    assert first.startswith("The Policy and Resources Committee: 1. Noted that on 23 November 2021")
    assert "2. Noted the plans to provide appropriate care for UASCs" in first


def test_figures_with_what_they_measure() -> None:
    from indexer.decisions import find_figures

    seed = (CORPUS / "unattributed/cpp_2024-summer_minutes_seed004.txt").read_text(encoding="utf-8")
    figures = find_figures(seed)
    assert figures[0] == "It was highlighted that in March 2024, 70.6% of children had an up-to-date immunisation."
    assert any("56%" in f and "supervision" in f for f in figures)
    scorecard = find_figures(SCORECARD.read_text(encoding="utf-8"))
    assert sum("74% and 70%" in f for f in scorecard) == 1
    assert any("58%" in f for f in scorecard)
    assert find_figures("Twelve members attended.") == []
