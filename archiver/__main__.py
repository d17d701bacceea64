"""`python -m archiver` runs the command line."""

from archiver.cli.main import main

main()
