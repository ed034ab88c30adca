"""`python -m monitor` is `cctv-monitor`."""
from .commands.cli import main

raise SystemExit(main())
