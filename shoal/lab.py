"""`shoal-lab`: entry point of the multi-node lab (cluster_examples/lab)."""

from __future__ import annotations

from cluster_examples.lab.cli import main

__all__ = ["main"]
