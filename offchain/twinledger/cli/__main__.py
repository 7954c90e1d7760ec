"""`python -m twinledger.cli`: the `twinledger` command."""
from .main import main

main()
