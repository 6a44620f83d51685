"""`python -m runrgateway.cli`, as `python -m runrgateway`.

Nothing but the call: it must never hold logic of its own.
"""

import sys

from ._main import main

sys.exit(main())
