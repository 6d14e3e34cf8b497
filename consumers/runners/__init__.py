"""The Kinesis path without Lambda: replay a file (replay), poll a stream (poller, checkpoints),
Lambda-shaped events (lambda_events), the sample clickstream (sample_data)."""
