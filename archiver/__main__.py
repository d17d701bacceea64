"""`python -m archiver` runs the command line."""

import sys

from archiver.cli.main import main

sys.exit(main())
