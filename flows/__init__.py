"""The Prefect flows. Importing this package points Prefect at the project folder
(``$VIDPIPE_HOME``) and enables the embedded API unless a server is configured."""

from vidpipe.home import prepare_prefect_env

prepare_prefect_env()
