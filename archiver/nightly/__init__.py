"""Nightly checks: the watch list, one run over it, link state, reports, notifications, the schedule."""
