"""What drives pue: Lambda handlers, decoding and normalization, the pipeline, settings, the CLI."""
