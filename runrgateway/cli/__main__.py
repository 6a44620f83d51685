"""`python -m runrgateway.cli`, as `python -m runrgateway`."""

import sys

from ._main import main

sys.exit(main())
