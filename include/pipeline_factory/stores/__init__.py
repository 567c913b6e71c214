"""Stores: the job ledger (SQLAlchemy), the graph (Neo4j), the vectors (Qdrant)."""
