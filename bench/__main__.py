"""``python -m bench``: run the performance figures and print the table."""

import sys

from bench.run import main

sys.exit(main())
