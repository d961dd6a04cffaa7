"""Versions and lifecycle: tag history, immutability, semver, stages, labels, retention,
garbage collection, quotas. One module per feature; their queries live in `metadata`."""
