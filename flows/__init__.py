"""The Prefect flows. Importing this package points Prefect at the project folder
(``$VIDPIPE_HOME``) and enables the embedded API unless a server is configured."""

import tasks  # noqa: F401 - sets Prefect's environment before anything imports Prefect
