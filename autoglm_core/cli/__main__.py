"""``python -m autoglm_core.cli``: the ``autoglm`` command."""

import sys

from autoglm_core.cli.main import main

sys.exit(main())
