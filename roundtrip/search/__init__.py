"""Exploring, recording and reducing: the harness, the reducer, pending bugs and the campaign."""
