"""Clients for the external APIs the pipelines collect from (NCBI E-utilities: PubMed, Gene)."""
