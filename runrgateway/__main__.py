"""`python -m runrgateway`: the command line (see `runrgateway.cli`)."""

from .cli import main

if __name__ == "__main__":
    raise SystemExit(main())
