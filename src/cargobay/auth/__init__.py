"""Identities and access: accounts, projects and roles, tokens, the permission policy, and the
secrets Cargobay keeps (master key, encrypted secrets, LDAP)."""
