"""``python -m autoglm_core.cli.main``: the ``autoglm`` command."""

import sys

from autoglm_core.cli.main import main

sys.exit(main())
