"""The one place that wires adapters to ports: stream (the pipeline and its sinks), engagement (catalog,
Customer Profiles, messages, segment import), api (the HTTP API), clients (boto3)."""
