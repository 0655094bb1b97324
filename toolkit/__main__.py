"""``python -m toolkit``: see :mod:`toolkit._cli`."""

import sys

from ._cli import main

sys.exit(main())
