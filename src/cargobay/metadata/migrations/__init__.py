"""Alembic migrations of the metadata schema (`versions/`)."""

# The newest revision in versions/. Kept here so a start-up can tell the schema is current
# without loading Alembic; tests/test_config.py checks it against the scripts.
HEAD = "0008"
