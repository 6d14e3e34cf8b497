"""From a Segment S3 archive to a Personalize dataset import: export, validate."""
