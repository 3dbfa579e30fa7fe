import sys

from moe_coder.cli import main

sys.exit(main())
