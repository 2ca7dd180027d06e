"""A finding as a value, and its identity: the package at fault and where."""
