"""The OCI Distribution API (/v2): handlers over the registry service."""
