"""PubMed: search with the history server, fetch in batches, parse the XML into papers.

A paper is a plain JSON-safe dict (see :func:`parse_article`) so it can go
straight into the snapshot files and from there into Neo4j and Qdrant.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from lxml import etree

from pipeline_factory.sources.eutils import EutilsClient, SearchResult, ordered_map, parse_xml

log = logging.getLogger(__name__)

_MONTHS = {m: i for i, m in enumerate(
    ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"], start=1
)}
_SEASONS = {"spring": 3, "summer": 6, "fall": 9, "autumn": 9, "winter": 12}


def _text(element: etree._Element | None) -> str:
    """All text under an element (titles and abstracts carry inline markup such as <i>)."""
    if element is None:
        return ""
    return re.sub(r"\s+", " ", "".join(element.itertext())).strip()


def _month(value: str | None) -> int | None:
    if not value:
        return None
    value = value.strip().lower()
    if value.isdigit():
        month = int(value)
        return month if 1 <= month <= 12 else None
    return _MONTHS.get(value[:3]) or _SEASONS.get(value)


def parse_pub_date(article: etree._Element) -> tuple[int | None, str | None]:
    """The publication year and an ISO-ish date (``YYYY``, ``YYYY-MM`` or ``YYYY-MM-DD``)."""
    pub_date = article.find("Journal/JournalIssue/PubDate")
    candidates = [pub_date, article.find("ArticleDate")]
    for node in candidates:
        if node is None:
            continue
        year_text = node.findtext("Year")
        if not year_text:
            medline = node.findtext("MedlineDate") or ""
            found = re.search(r"(\d{4})", medline)
            if not found:
                continue
            year = int(found.group(1))
            month = _month(medline[found.end():].strip().split(" ")[0].split("-")[0] or None)
            return year, f"{year:04d}-{month:02d}" if month else f"{year:04d}"
        year = int(year_text)
        month = _month(node.findtext("Month") or node.findtext("Season"))
        day_text = node.findtext("Day")
        if month and day_text and day_text.isdigit():
            return year, f"{year:04d}-{month:02d}-{int(day_text):02d}"
        if month:
            return year, f"{year:04d}-{month:02d}"
        return year, f"{year:04d}"
    return None, None


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
    for part in article.iterfind("Abstract/AbstractText"):
        text = _text(part)
        label = part.get("Label")
        if text:
            abstract_parts.append(f"{label}: {text}" if label else text)
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
            mesh.append({"ui": descriptor.get("UI") or name, "name": name})
    doi = None
    for node in element.iterfind("PubmedData/ArticleIdList/ArticleId"):
        if node.get("IdType") == "doi" and node.text:
            doi = node.text.strip()
    if doi is None:
        for node in article.iterfind("ELocationID"):
            if node.get("EIdType") == "doi" and node.text:
                doi = node.text.strip()
    year, date = parse_pub_date(article)
    journal_title = _text(article.find("Journal/Title")) or _text(article.find("Journal/ISOAbbreviation"))
    journal_id = (
        citation.findtext("MedlineJournalInfo/NlmUniqueID")
        or article.findtext("Journal/ISSN")
        or journal_title
    )
    return {
        "pmid": pmid,
        "title": _text(article.find("ArticleTitle")),
        "abstract": "\n".join(abstract_parts),
        "journal": {"id": (journal_id or "").strip(), "title": journal_title},
        "year": year,
        "date": date,
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


def fetch_papers(
    client: EutilsClient,
    term: str,
    *,
    window: DateWindow,
    max_results: int,
    batch_size: int,
    skip: Callable[[str], bool] = lambda pmid: False,
) -> Iterator[list[dict[str, Any]]]:
    """Search once, leave out the ids ``skip`` says are stored, yield the rest in batches."""
    result = search_pubmed(client, term, window, max_results)
    wanted = [pmid for pmid in result.ids if not skip(pmid)]
    log.info("pubmed %r: %d hits, %d listed, %d new", term, result.count, len(result.ids), len(wanted))
    yield from fetch_batches(client, result, wanted, batch_size)
