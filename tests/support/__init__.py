"""Test helpers shared by contract, integration, functional and benchmark tests."""
