"""OCI Distribution Specification conformance tests, written from the specification text."""
