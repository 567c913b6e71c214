"""General-purpose stage types: useful on their own and as smoke tests of a deployment."""
