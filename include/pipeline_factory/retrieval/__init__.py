"""Ask the GraphRAG stores: vector search in Qdrant, expansion in Neo4j, one fused ranking with reasons."""
