"""``python -m dsim`` runs the CLI."""

import sys

from dsim.cli import main

sys.exit(main())
