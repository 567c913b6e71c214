"""Model training stages: incremental data, features, training, evaluation, registry, promotion."""
