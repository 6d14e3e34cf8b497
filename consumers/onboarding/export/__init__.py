"""``pue export``: Segment history -> Personalize datasets (CSV + Avro schemas), same code as the stream.

reader (JSON lines, gzip, Segment S3 archive layout) -> decode + normalize (the stream's) -> dedupe by
event id and identity linking (scratch, identity) -> CSV writers (writer, fields) and schemas (avro).
"""
