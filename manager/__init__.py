"""shoal managers: Raft consensus, the replicated store, CA, control API, orchestration."""
