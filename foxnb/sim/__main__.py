"""``python -m foxnb.sim``: run the FoxAPI simulator until Ctrl-C."""

from .cli import main

raise SystemExit(main())
