"""Where data goes: ports (Protocols over schemas' types) and their adapters (aws, segment, local)."""
