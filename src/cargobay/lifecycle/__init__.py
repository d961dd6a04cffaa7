"""Versions and lifecycle: the business logic of history, retention and the like, one
module per feature."""
