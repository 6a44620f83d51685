"""`python -m runrgateway`: the command line (see `runrgateway.cli`).

Nothing but the call: it must never hold logic of its own.
"""

from .cli import main

if __name__ == "__main__":
    raise SystemExit(main())
