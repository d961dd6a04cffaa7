"""The management API (/api/v1): accounts, projects, members, robots, tokens, repositories."""

from cargobay.api.app import create_api

__all__ = ["create_api"]
