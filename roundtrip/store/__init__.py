"""The corpus: entries on disk, their triage, feature gaps, repro scripts and issue.md."""
