"""Settings read once from the environment (settings, engagement_settings, api_settings), secrets by
reference (secrets), JSON logs with redaction (logs)."""
