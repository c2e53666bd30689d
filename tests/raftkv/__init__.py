"""A replicated key-value store over shoal's Raft, run as real member processes.

`member` is the process (`python -m tests.raftkv.member`), `client` speaks its JSON-lines client
protocol, `cluster` starts, kills and restarts members for the integration tests and the
benchmark. The state machine (`kv.KeyValue`) is deliberately tiny: a dict of strings.
"""
