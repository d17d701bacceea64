"""The network: the fetcher, its transport, the address guard and politeness. Only this package talks HTTP."""
