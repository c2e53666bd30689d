"""Example stacks, and the multi-node lab."""
