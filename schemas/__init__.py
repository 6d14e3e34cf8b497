"""What data looks like: domain types, named limits and the error tree. stdlib only."""
