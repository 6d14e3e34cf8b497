"""``pue validate``: check a Personalize dataset CSV (and its schema) before a dataset import job does.

schema (the schema file, or built-in rules) -> rules (per row and cell) -> tally (counts, on disk) ->
report (line-numbered issues, summary table, verdict); checker runs them over a file in one pass.
"""
