"""`python -m monitor` is `cctv-monitor`."""
from .cli import main

raise SystemExit(main())
