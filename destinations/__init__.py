"""Where data goes: ports (Protocols over schemas' types) and their adapters (aws, segment, local)."""

__pue__ = True  # consumers/config/installation.py: tells pue's package from a namesake on PyPI
