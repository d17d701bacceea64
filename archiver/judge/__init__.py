"""Judging: what a fetch, an archived copy and a pair of them say — pure functions of values."""
