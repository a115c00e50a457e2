"""``python -m nablanet.cli``: the ``nablanet`` command."""

import sys

from nablanet.cli.main import main

sys.exit(main())
