"""Composition root: the shoal, shoald and shoal-lab entry points."""
