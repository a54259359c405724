"""``python -m custom_components.alphaess_local.protocol serve|simulate``.

That path loads Home Assistant through the integration package; ``bin/alphaess-cloud``
runs the same commands without it (docs/library.md).
"""

import sys

from .cli import main

sys.exit(main())
