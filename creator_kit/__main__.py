"""``python -m creator_kit ...`` is the ``creator-kit`` command (``accelerate launch -m creator_kit train config``)."""

import sys

from creator_kit.cli import main

sys.exit(main())
