"""Several GPU machines on one work pool, and the server's database.

Each machine's worker holds a GPU limit of its own (``gpu-<machine>``): it is created
with ``slots`` when it does not exist (an existing limit's slots are never changed
here: ``vidpipe deploy --gpu-limit NAME --slots N`` does that), and a worker refuses to
start with a limit that another machine's online worker already uses (two cards sharing
one limit would each get half of the pair's slots, or one card twice its share). Which
worker runs on which machine with which limit is kept in a Prefect variable per worker
(``vidpipe-worker-<name>``), so every worker can check the others through the API.

The server's database is SQLite in its home by default; ``--database-url`` (or
``PREFECT_API_DATABASE_CONNECTION_URL``) names Postgres, which is reached once before
the server starts, so a wrong URL is one line instead of a server that retries forever."""

from __future__ import annotations

import os
import re
from datetime import datetime, timezone
from urllib.parse import urlsplit, urlunsplit

from vidpipe.errors import ConfigError, one_line

REGISTRY_PREFIX = "vidpipe-worker-"
#: a worker whose heartbeat is older than this counts as gone (Prefect's own is every 30 s)
LIVE_SECONDS = 90
DB_ENV = "PREFECT_API_DATABASE_CONNECTION_URL"


def _variable_name(worker: str) -> str:
    return REGISTRY_PREFIX + re.sub(r"[^a-z0-9_-]", "-", worker.lower())[:200]


def _online(worker, now: datetime) -> bool:
    beat = worker.last_heartbeat_time
    if beat is None or str(worker.status).upper().endswith("OFFLINE"):
        return False
    if beat.tzinfo is None:
        beat = beat.replace(tzinfo=timezone.utc)
    return (now - beat).total_seconds() < LIVE_SECONDS


def register_worker(pool: str, worker: str, machine: str, limit: str, slots: int) -> str:
    """Check this worker's pool and limit against the other machines' workers, create
    the limit if it is missing, record the worker. Returns a line to print."""
    from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate, VariableCreate, VariableUpdate
    from prefect.exceptions import ObjectNotFound

    from deployments.admin import api_client

    with api_client() as client:
        try:
            client.read_work_pool(pool)
        except ObjectNotFound:
            raise ConfigError(
                f"work pool {pool} does not exist on {client.api_url}: run vidpipe deploy first"
            ) from None
        now = datetime.now(timezone.utc)
        live = {w.name for w in client.read_workers_for_work_pool(pool) if _online(w, now)}
        for var in client.read_variables():
            other = var.value if var.name.startswith(REGISTRY_PREFIX) and isinstance(var.value, dict) else None
            if (
                other
                and other.get("pool") == pool
                and other.get("limit") == limit
                and other.get("machine") != machine
                and other.get("worker") in live - {worker}
            ):
                raise ConfigError(
                    f"GPU limit {limit} is already machine {other['machine']}'s (worker {other['worker']}, online): "
                    f"give each machine a limit of its own, e.g. vidpipe worker --gpu-limit gpu-{machine}"
                )
        try:
            found = client.read_global_concurrency_limit_by_name(limit)
            made = f"GPU limit {limit} ({found.limit} slots)"
        except ObjectNotFound:
            client.create_global_concurrency_limit(GlobalConcurrencyLimitCreate(name=limit, limit=slots))
            made = f"GPU limit {limit} created ({slots} slots)"
        record = {"pool": pool, "worker": worker, "machine": machine, "limit": limit}
        name = _variable_name(worker)
        if client.read_variable_by_name(name) is None:
            client.create_variable(VariableCreate(name=name, value=record))
        else:  # a restarted worker, or one moved to another machine
            client.update_variable(VariableUpdate(name=name, value=record))
    return f"worker {worker} on machine {machine}, pool {pool}, {made}"


STORAGE_ENV = "PREFECT_RESULTS_DEFAULT_STORAGE_BLOCK"


def check_result_storage(machine: str) -> str | None:
    """When the task records go to a storage block (an S3 bucket every machine shares),
    write one small object there now: a missing block, a wrong endpoint or bucket, or
    refused credentials is one line before the worker takes a run. Returns a line to print."""
    slug = os.environ.get(STORAGE_ENV, "").strip()
    if not slug:
        return None
    from prefect.events.worker import EventsWorker

    try:
        return _probe_storage(slug, machine)
    finally:  # the block's events are sent now, not in a warning after the line a user reads
        EventsWorker.drain_all(timeout=5)


def _probe_storage(slug: str, machine: str) -> str:
    from prefect.blocks.core import Block

    try:
        block = Block.load(slug)
    except Exception as e:  # noqa: BLE001 - any reason is the one line
        raise ConfigError(
            f"task record storage {slug} ({STORAGE_ENV}): cannot load the block ({one_line(e, 200)})"
        ) from None
    try:
        block.write_path(f"vidpipe-probe/{machine}", b"")
        block.read_path(f"vidpipe-probe/{machine}")
    except Exception as e:  # noqa: BLE001
        raise ConfigError(
            f"task record storage {slug} ({STORAGE_ENV}): cannot write there ({one_line(e, 200)}); every "
            "machine keeps its task records there"
        ) from None
    return f"task records in {slug}"


def shown_url(url: str) -> str:
    """A database URL without its password, for messages."""
    parts = urlsplit(url)
    if parts.password:
        host = parts.hostname or ""
        netloc = f"{parts.username}:***@{host}" + (f":{parts.port}" if parts.port else "")
        parts = parts._replace(netloc=netloc)
    return urlunsplit(parts)


def check_database(url: str, timeout: float = 10.0) -> None:
    """Connect once to the Postgres ``url`` names (SQLAlchemy form,
    ``postgresql+asyncpg://user:password@host:port/database``); ConfigError with one
    line when it cannot be reached or is not Postgres."""
    import asyncio

    scheme = url.split("://", 1)[0]
    if scheme.startswith("sqlite"):
        return
    if not scheme.startswith(("postgresql", "postgres")):
        raise ConfigError(
            f"database {shown_url(url)}: not a Postgres or SQLite URL "
            "(write postgresql+asyncpg://user:password@host:5432/prefect)"
        )
    dsn = "postgresql://" + url.split("://", 1)[1]

    async def probe() -> None:
        import asyncpg

        conn = await asyncpg.connect(dsn, timeout=timeout)
        await conn.close()

    try:
        asyncio.run(asyncio.wait_for(probe(), timeout + 2))
    except Exception as e:  # noqa: BLE001 - any failure to connect is the one line
        raise ConfigError(f"database {shown_url(url)}: cannot connect ({one_line(e)})") from None
