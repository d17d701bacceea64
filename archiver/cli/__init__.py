"""The command line: a thin adapter over the pipeline — parse, call, render, exit with a code."""
