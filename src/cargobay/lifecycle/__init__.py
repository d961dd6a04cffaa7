"""Versions and lifecycle: the business logic of issue 4, one module per feature."""
