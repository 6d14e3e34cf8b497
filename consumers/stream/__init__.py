"""The Kinesis path, one step a module: decode -> normalize (event_map, timestamps) -> grouping -> pipeline
(refresh_gate) -> accounting."""
