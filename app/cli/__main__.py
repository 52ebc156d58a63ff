"""``python -m moetile.app.cli``: the ``moetile`` command."""

import sys

from . import main

sys.exit(main())
