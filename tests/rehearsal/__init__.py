"""`make rehearse`: the deployed stack, rehearsed whole, offline (deploy/README.md, "The rehearsal").

1. SAM CLI's packaging step (tests/support/sam_package.py) packages deploy/template.yaml, laid in a copy of
   the repository's layout with a bundle for this machine's CPU where `make bundle` puts the deployed one; the
   SAM transform (aws-sam-translator) turns the packaged template into what CloudFormation creates.
2. The resources come up on moto in server mode (ThreadedMotoServer on 127.0.0.1: Kinesis, SQS, S3, DynamoDB,
   Secrets Manager), Personalize and Segment on the loopback stand-in (tests/support/cloud_fake.py), Customer
   Profiles on tests/rehearsal/profiles.py; both record every raw request. Intrinsics resolve against what
   was created (tests/rehearsal/stack.py).
3. Each function runs from its packaged zip, unzipped, in python3.12 (tests/rehearsal/bootstrap.py), with the
   template's variables, what Lambda sets, and endpoint URLs pointing at the emulators: the one thing the
   harness adds, because the functions would otherwise call AWS and Segment themselves.
4. Triggers as the template wires them: the Kinesis event source mapping (tests/rehearsal/sources.py), the
   schedule, the HTTP API route. Segment spec samples go into the stream; outcomes are read back from the
   emulators (tests/rehearsal/scenario.py).
5. Checks (tests/rehearsal/checks.py): environment reads, every call against the role, every alarm's metric
   against what was emitted, and wiring.

Nothing is repaired: paths, variables and policies are the template's; a fault is reported, not worked around.
"""
