"""What drives pue. The Lambda entry points are the thin modules at this level (deploy/template.yaml):

    kinesis          Kinesis stream -> stream.lambda_batch -> stream.pipeline (decode, normalize, group,
                     PutEvents, GetRecommendations, every sink, dead letters, accounting)
    api              API Gateway -> web (routes, service: the same pipeline)
    campaign_hook    Pinpoint campaign hook -> engagement.campaign_hook
    segment_import   S3 batch segment output -> engagement.segment_import
    refresh_sweep_handler   the scheduled sweep of postponed refreshes -> stream.refresh_sweep

    cli/         the ``pue`` command, one module per command group, one dispatch style
    bootstrap/   the one place adapters are built and wired to ports (a new sink: bootstrap/stream.py)
    stream/      the Kinesis path, one step a module
    runners/     the Kinesis path without Lambda: replay a file, poll a stream, the sample clickstream
    web/         the recommendations HTTP API and the web page
    engagement/  the campaign hook and batch segments (Pinpoint, Customer Profiles)
    onboarding/  Segment history -> Personalize datasets (export, validate)
    config/      settings, secrets, logging, the installation check

Ports live in ``destinations.ports``, adapters in ``destinations.{aws,segment,local}``, types in ``schemas``.
"""

__pue__ = True  # consumers/config/installation.py: tells pue's package from a namesake on PyPI
