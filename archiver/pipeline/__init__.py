"""Use cases: capture, check, compare, mirror and the stored-archive operations — wiring logic to adapters."""
