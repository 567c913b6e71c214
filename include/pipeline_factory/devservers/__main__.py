"""``python -m pipeline_factory.devservers start|stop|status NAME``: see :mod:`.control`."""

from pipeline_factory.devservers.control import main

raise SystemExit(main())
