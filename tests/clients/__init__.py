"""Real-client tests. A package so that its conftest is not imported as plain `conftest`,
which `from conftest import ...` in other test directories would then pick up."""
