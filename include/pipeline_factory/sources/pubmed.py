"""PubMed: search with the history server, fetch in batches, parse the XML into papers.

A paper is a plain JSON-safe dict (see :func:`parse_article`) so it can go
straight into the snapshot files and from there into Neo4j and Qdrant.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date as date_cls
from typing import Any

from lxml import etree

from pipeline_factory.sources.eutils import EutilsClient, SearchResult, ordered_map, parse_xml
from pipeline_factory.sources.pubmed_text import has_markup, inner_xml, render_text

log = logging.getLogger(__name__)

_MONTHS = {m: i for i, m in enumerate(
    ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"], start=1
)}


def _text(element: etree._Element | None) -> str:
    """Readable text under an element: inline markup and MathML rendered (see :mod:`.pubmed_text`)."""
    return render_text(element)


def _month(value: str | None) -> int | None:
    if not value:
        return None
    value = value.strip().lower()
    if value.isdigit():
        month = int(value)
        return month if 1 <= month <= 12 else None
    return _MONTHS.get(value[:3])


def _original(node: etree._Element) -> str:
    """The date as PubMed wrote it: its parts joined with spaces (``1990 Spring``, ``2001 Jun 31``)."""
    medline = node.findtext("MedlineDate")
    if medline:
        return medline.strip()
    parts = [node.findtext(tag) for tag in ("Year", "Season", "Month", "Day")]
    return " ".join(p.strip() for p in parts if p and p.strip())


def pub_date(article: etree._Element) -> dict[str, Any]:
    """The publication date with the precision PubMed really gives, plus the original string.

    ``{"year": 1990, "date": "1990", "precision": "year", "original": "1990 Spring"}``:
    a season is not a month, so it keeps year precision (the season stays in
    ``original``); an impossible day (``Feb 30``) falls back to year-month; a
    ``MedlineDate`` range keeps its first year (and month, when it names one).
    ``date`` is always a valid ISO prefix: ``YYYY``, ``YYYY-MM`` or ``YYYY-MM-DD``.
    """
    for node in (article.find("Journal/JournalIssue/PubDate"), article.find("ArticleDate")):
        if node is None:
            continue
        original = _original(node)
        year_text = (node.findtext("Year") or "").strip()
        month = day = None
        if not year_text:
            found = re.search(r"(\d{4})", node.findtext("MedlineDate") or "")
            if not found:
                continue
            year_text = found.group(1)
            rest = (node.findtext("MedlineDate") or "")[found.end():].strip().split(" ")[0].split("-")[0]
            month = _month(rest) if rest and not rest.isdigit() else None
        else:
            month = _month(node.findtext("Month"))
            day_text = (node.findtext("Day") or "").strip()
            if month and day_text.isdigit():
                try:
                    day = date_cls(int(year_text), month, int(day_text)).day
                except ValueError:
                    log.info("impossible publication day %r kept only in the original date", original)
        if not year_text.isdigit():
            continue
        year = int(year_text)
        if month and day:
            iso, precision = f"{year:04d}-{month:02d}-{day:02d}", "day"
        elif month:
            iso, precision = f"{year:04d}-{month:02d}", "month"
        else:
            iso, precision = f"{year:04d}", "year"
        return {"year": year, "date": iso, "precision": precision, "original": original}
    return {"year": None, "date": None, "precision": None, "original": None}



def _markup(element: etree._Element | None) -> str | None:
    return inner_xml(element) if has_markup(element) else None


def parse_article(element: etree._Element) -> dict[str, Any] | None:
    """One ``<PubmedArticle>`` as a paper dict; None for records without a PMID."""
    citation = element.find("MedlineCitation")
    if citation is None:
        return None
    pmid = (citation.findtext("PMID") or "").strip()
    if not pmid:
        return None
    article = citation.find("Article")
    if article is None:
        return None
    abstract_parts = []
    abstract_markup = []
    for part in article.iterfind("Abstract/AbstractText"):
        text = _text(part)
        label = part.get("Label")
        if text:
            abstract_parts.append(f"{label}: {text}" if label else text)
            raw = inner_xml(part)
            abstract_markup.append(f"{label}: {raw}" if label else raw)
    title_element = article.find("ArticleTitle")
    abstract_has_markup = any(has_markup(p) for p in article.iterfind("Abstract/AbstractText"))
    authors = []
    for author in article.iterfind("AuthorList/Author"):
        collective = author.findtext("CollectiveName")
        last = author.findtext("LastName")
        if last:
            fore = author.findtext("ForeName") or author.findtext("Initials") or ""
            authors.append(f"{fore} {last}".strip())
        elif collective:
            authors.append(collective.strip())
    mesh = []
    for heading in citation.iterfind("MeshHeadingList/MeshHeading"):
        descriptor = heading.find("DescriptorName")
        if descriptor is not None and descriptor.text:
            name = descriptor.text.strip()
            # A heading is a major topic when its descriptor or any of its qualifiers is starred.
            major = descriptor.get("MajorTopicYN") == "Y" or any(
                q.get("MajorTopicYN") == "Y" for q in heading.iterfind("QualifierName")
            )
            mesh.append({"ui": descriptor.get("UI") or name, "name": name, "major": major})
    doi = None
    for node in element.iterfind("PubmedData/ArticleIdList/ArticleId"):
        if node.get("IdType") == "doi" and node.text:
            doi = node.text.strip()
    if doi is None:
        for node in article.iterfind("ELocationID"):
            if node.get("EIdType") == "doi" and node.text:
                doi = node.text.strip()
    published = pub_date(article)
    journal_title = _text(article.find("Journal/Title")) or _text(article.find("Journal/ISOAbbreviation"))
    journal_id = (
        citation.findtext("MedlineJournalInfo/NlmUniqueID")
        or article.findtext("Journal/ISSN")
        or journal_title
    )
    return {
        "pmid": pmid,
        "title": _text(title_element),
        "abstract": "\n".join(abstract_parts),
        # PubMed's own markup, for display; only when the text had any (searchable text is above).
        "title_markup": _markup(title_element),
        "abstract_markup": "\n".join(abstract_markup) if abstract_has_markup else None,
        "journal": {"id": (journal_id or "").strip(), "title": journal_title},
        "year": published["year"],
        "date": published["date"],
        "date_precision": published["precision"],
        "date_original": published["original"],
        "authors": authors,
        "mesh": mesh,
        "doi": doi,
    }


def parse_pubmed_xml(root: etree._Element | bytes) -> list[dict[str, Any]]:
    """Every article in a ``<PubmedArticleSet>`` (book records are skipped)."""
    if isinstance(root, bytes):
        root = parse_xml(root, "efetch")
    papers = []
    for element in root.iterfind("PubmedArticle"):
        paper = parse_article(element)
        if paper is not None:
            papers.append(paper)
    return papers


@dataclass(frozen=True)
class DateWindow:
    """Publication-date bounds in NCBI's ``YYYY/MM/DD`` form; either may be open."""

    mindate: str | None = None
    maxdate: str | None = None


def search_pubmed(client: EutilsClient, term: str, window: DateWindow, max_results: int) -> SearchResult:
    """``esearch`` on the history server; returns the SearchResult (ids limited to ``max_results``)."""
    return client.esearch(
        "pubmed",
        term,
        retmax=max_results,
        usehistory=True,
        mindate=window.mindate,
        maxdate=window.maxdate,
        datetype="pdat",
        sort="pub_date",
    )


def fetch_batches(
    client: EutilsClient, result: SearchResult, wanted: list[str], batch_size: int, concurrency: int = 1
) -> Iterator[list[dict[str, Any]]]:
    """Yield parsed papers for ``wanted`` (a subset of ``result.ids``), ``batch_size`` per efetch, in order.

    When every listed id is wanted the batches come straight from the history
    server (WebEnv/query_key, as NCBI recommends); otherwise by id, POSTed
    when the list is long.  With ``concurrency`` > 1 several requests are in
    flight at once (the shared rate limiter still spaces their starts), which
    keeps the allowed rate busy while answers are slow to arrive.
    """
    from_history = len(wanted) == len(result.ids) and result.webenv and result.query_key

    def fetch(start: int) -> list[dict[str, Any]]:
        if from_history:
            root = client.efetch_xml(
                "pubmed",
                webenv=result.webenv,
                query_key=result.query_key,
                retstart=start,
                retmax=min(batch_size, len(wanted) - start),
            )
        else:
            root = client.efetch_xml("pubmed", ids=wanted[start : start + batch_size])
        return parse_pubmed_xml(root)

    yield from ordered_map(fetch, range(0, len(wanted), batch_size), concurrency)
