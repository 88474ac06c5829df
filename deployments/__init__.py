"""Running vidpipe like production: a Prefect server, the ``rtx3060`` process work
pool, the ``gpu-rtx3060`` GPU limit and the deployments in ``prefect.yaml``."""

from vidpipe.home import prepare_prefect_env

prepare_prefect_env()
