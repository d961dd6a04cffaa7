"""Metadata: repositories, blobs, manifests, tags and uploads in a SQL database."""
