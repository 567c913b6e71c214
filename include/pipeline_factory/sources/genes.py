"""NCBI Gene: the genes linked to papers, summarised and filtered by organism."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import Any

from pipeline_factory.sources.eutils import EutilsClient, ordered_map

log = logging.getLogger(__name__)


def gene_record(uid: str, doc: dict[str, Any]) -> dict[str, Any]:
    """The fields the graph needs from one ``esummary db=gene`` document."""
    organism = doc.get("organism") or {}
    aliases = [a.strip() for a in (doc.get("otheraliases") or "").split(",") if a.strip()]
    return {
        "gene_id": str(doc.get("uid") or uid),
        "symbol": doc.get("name") or doc.get("nomenclaturesymbol") or "",
        "description": doc.get("description") or doc.get("nomenclaturename") or "",
        "organism": organism.get("scientificname") or "",
        "taxid": int(organism["taxid"]) if organism.get("taxid") else None,
        "chromosome": doc.get("chromosome") or "",
        "aliases": aliases,
    }


def organism_matches(gene: dict[str, Any], organisms: Sequence[str]) -> bool:
    """True when no filter is set or the gene's scientific name or taxid is listed."""
    if not organisms:
        return True
    wanted = {o.strip().lower() for o in organisms}
    return gene["organism"].lower() in wanted or str(gene.get("taxid")) in wanted


def genes_linked_to_papers(
    client: EutilsClient, pmids: Sequence[str], batch_size: int, concurrency: int = 1
) -> dict[str, list[str]]:
    """pmid -> gene ids through ``elink dbfrom=pubmed db=gene``."""
    links: dict[str, list[str]] = {}
    batches = [list(pmids[start : start + batch_size]) for start in range(0, len(pmids), batch_size)]
    for found in ordered_map(lambda batch: client.elink("pubmed", "gene", batch), batches, concurrency):
        for pmid, gene_ids in found.items():
            links.setdefault(pmid, [])
            links[pmid] += [g for g in gene_ids if g not in links[pmid]]
    return links


def search_gene_ids(client: EutilsClient, symbols: Iterable[str], organisms: Sequence[str]) -> list[str]:
    """Gene ids for official symbols, through ``esearch db=gene`` (``[sym]`` and ``[orgn]`` fields)."""
    symbols = sorted(set(symbols))
    if not symbols:
        return []
    term = " OR ".join(f"{s}[sym]" for s in symbols)
    if organisms:
        organism_terms = " OR ".join(f'"{o}"[orgn]' for o in organisms)
        term = f"({term}) AND ({organism_terms})"
    result = client.esearch("gene", term, retmax=max(20, len(symbols) * 5))
    return result.ids


def summarise_genes(
    client: EutilsClient, gene_ids: Sequence[str], *, organisms: Sequence[str], batch_size: int, concurrency: int = 1
) -> list[dict[str, Any]]:
    genes = []
    batches = [list(gene_ids[start : start + batch_size]) for start in range(0, len(gene_ids), batch_size)]
    for docs in ordered_map(lambda batch: client.esummary_json("gene", batch), batches, concurrency):
        for uid, doc in docs.items():
            if "error" in doc:
                continue
            gene = gene_record(uid, doc)
            if organism_matches(gene, organisms):
                genes.append(gene)
    return genes
