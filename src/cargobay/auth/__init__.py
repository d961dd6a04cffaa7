"""Authentication and the secrets it keeps: master key, encrypted secrets, LDAP."""
