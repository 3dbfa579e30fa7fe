"""``python -m moe_coder``: the ``moe-coder`` command line."""
import sys

from moe_coder.cli import main

sys.exit(main())
