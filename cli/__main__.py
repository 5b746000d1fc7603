"""`python -m videothought.cli ...`: the same as `vot ...`."""

from videothought.cli import main

raise SystemExit(main())
