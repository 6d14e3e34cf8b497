"""What data looks like: domain types, named limits and the error tree. stdlib only."""

__pue__ = True  # consumers/config/installation.py: tells pue's package from a namesake on PyPI
