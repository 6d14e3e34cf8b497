"""``pue export --engine spark``: the same export on Apache Spark (local mode, AWS Glue, EMR), same output."""
