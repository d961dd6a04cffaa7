"""Cargobay vs CNCF Distribution benchmark, run side by side on loopback."""
