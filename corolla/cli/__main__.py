"""``python -m corolla.cli``."""

import sys

from . import main

sys.exit(main())
