"""The wire contract: .proto sources and the modules generated from them (scripts/gen-proto)."""
