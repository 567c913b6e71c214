"""``python -m pipeline_factory``."""

from __future__ import annotations

import sys

from pipeline_factory.cli import main

sys.exit(main())
