"""``python -m custom_components.alphaess_local.protocol serve|simulate``."""

import sys

from .cli import main

sys.exit(main())
