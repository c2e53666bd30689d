"""Raft consensus for the managers: a pure core, WAL and snapshot storage, a driver, a transport."""
