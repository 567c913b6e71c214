"""MLflow tracking, the model registry's aliases, the promotion rule and its lock.

Import the submodules you need; none imports mlflow at module level.
"""
