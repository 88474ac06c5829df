"""Running vidpipe like production: a Prefect server, the ``rtx3060`` process work
pool, the ``gpu-rtx3060`` GPU limit and the deployments in ``prefect.yaml``."""

import tasks  # noqa: F401 - sets Prefect's environment before anything imports Prefect
