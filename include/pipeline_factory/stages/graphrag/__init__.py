"""Biomedical GraphRAG: PubMed and NCBI Gene collection feeding Neo4j and Qdrant."""
