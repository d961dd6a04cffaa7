"""The `cargobay` command."""
