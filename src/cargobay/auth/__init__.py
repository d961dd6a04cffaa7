"""Identities and access: accounts, projects and roles, tokens, the permission policy."""
