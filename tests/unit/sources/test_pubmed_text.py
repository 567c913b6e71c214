"""Faithful text from real PubMed records: MathML, sup/sub, underlined operators, date precision.

The records are NCBI's own efetch answers, as recorded in Biopython's test
data (``tests/fixtures/ncbi/pubmed4.xml`` .. ``pubmed7.xml``, see the README there).
"""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st
from lxml import etree

from pipeline_factory.sources.pubmed import parse_pubmed_xml, pub_date
from pipeline_factory.sources.pubmed_text import render_text, subscript, superscript

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "ncbi"


def record(name: str) -> dict:
    [paper] = parse_pubmed_xml((FIXTURES / name).read_bytes())
    return paper


def test_mathml_accent_and_subscript_become_linear_text():
    paper = record("pubmed6.xml")  # PMID 30108519: <mml:mover> V with a dot, <mml:msub> O 2max
    assert "maximal oxygen uptake ( V\u0307O2max ) 67.6" in paper["abstract"]
    assert "V . O 2 m a x" not in paper["abstract"]
    assert "<mml:msub>" in paper["abstract_markup"]  # the original stays available for display


def test_mathml_prescripts_become_superscript_isotopes():
    paper = record("pubmed7.xml")  # PMID 29963580: <mml:mmultiscripts> with <mml:mprescripts/>
    assert "inhaled ³He/¹²⁹Xe MRI" in paper["abstract"]
    assert "He 3 / Xe 129" not in paper["abstract"]


def test_html_superscripts_and_subscripts():
    runners = record("pubmed6.xml")
    assert "15.0 ± 1.1 km·h⁻¹;" in runners["abstract"] and "km·h-1" not in runners["abstract"]
    assert "ml·kg⁻¹·min⁻¹" in runners["abstract"]
    telomeres = record("pubmed4.xml")  # PMID 27797938
    assert "linkage disequilibrium r²<0.25" in telomeres["abstract"]
    assert "p_{trend}=0.048" in telomeres["abstract"]
    assert "<i>TERT</i>" in telomeres["title_markup"] and telomeres["title"].count("TERT") == 1


def test_underlined_less_than_means_less_than_or_equal():
    paper = record("pubmed5.xml")  # PMID 28775130: normal TSH (0.4-<u>&lt;</u>4.5 mIU/L)
    assert "normal TSH (0.4-≤4.5 mIU/L)" in paper["abstract"]
    assert "OR_{Q3}=4.15" in paper["abstract"] and "p_{trend} <0.01" in paper["abstract"]


def test_records_without_markup_keep_no_markup_copy():
    [_, plain] = parse_pubmed_xml((FIXTURES / "pubmed1.xml").read_bytes())
    assert plain["title_markup"] is None and plain["abstract_markup"] is None


def test_dates_keep_their_real_precision_and_original_string():
    assert (record("pubmed6.xml")["date"], record("pubmed6.xml")["date_precision"]) == ("2018", "year")
    paper = record("pubmed5.xml")
    assert (paper["date"], paper["date_precision"], paper["date_original"]) == ("2018-02", "month", "2018 Feb")


def _date_xml(year: str, month: str | None, day: str | None, season: str | None) -> etree._Element:
    parts = f"<Year>{year}</Year>"
    parts += f"<Season>{season}</Season>" if season else ""
    parts += f"<Month>{month}</Month>" if month else ""
    parts += f"<Day>{day}</Day>" if day else ""
    issue = f"<JournalIssue><PubDate>{parts}</PubDate></JournalIssue>"
    return etree.fromstring(f"<Article><Journal>{issue}</Journal></Article>")


MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]


@given(
    year=st.integers(1800, 2100),
    month=st.none() | st.sampled_from(MONTHS) | st.integers(0, 13).map(lambda m: f"{m:02d}"),
    day=st.none() | st.integers(0, 40).map(str),
    season=st.none() | st.sampled_from(["Spring", "Summer", "Fall", "Winter"]),
)
def test_any_pubdate_gives_a_valid_date_of_the_precision_it_claims(year, month, day, season):
    """Property: whatever the parts, ``date`` is a real calendar date (prefix) and nothing is invented."""
    found = pub_date(_date_xml(str(year), month, day, season))
    assert found["year"] == year
    precision = found["precision"]
    pattern = {"year": r"\d{4}", "month": r"\d{4}-\d{2}", "day": r"\d{4}-\d{2}-\d{2}"}[precision]
    assert re.fullmatch(pattern, found["date"])
    if precision == "day":
        date.fromisoformat(found["date"])  # raises on 2001-02-30
    if precision != "year":
        assert month is not None  # a season never becomes a month
    assert found["original"].startswith(str(year))
    for part in (month, day, season):
        assert part is None or part in found["original"].split()


@given(st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), max_size=40))
def test_plain_text_passes_through_and_scripts_never_lose_characters(text):
    element = etree.Element("AbstractText")
    element.text = text
    assert render_text(element) == re.sub(r"\s+", " ", text).strip()
    for rendered in (superscript(text), subscript(text)):
        stripped = text.strip()
        assert not stripped or rendered.startswith(("^", "_")) or len(rendered) == len(stripped)
