"""One thin Prefect task per step; each wraps one engine call. Importing this
package points Prefect at the project folder before Prefect is imported."""

from vidpipe.home import prepare_prefect_env

prepare_prefect_env()
