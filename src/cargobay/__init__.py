"""Cargobay: a container image registry with the team workflows built in."""

__version__ = "0.1.0"
