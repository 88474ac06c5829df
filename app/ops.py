"""``vidpipe server | deploy | worker | watch``: running vidpipe like production on a
Prefect server (see README, "Run with a Prefect server")."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import typer


def run_forwarding(command: list[str] | list[list[str]], env: dict) -> int:
    """Run Prefect's server or worker (or several processes) as children that get the
    same SIGTERM / SIGINT as this process (a service manager's stop, a terminal's
    Ctrl-C), so they shut down cleanly and are never left running on their own. When one
    ends, the others are stopped; its exit status is returned."""
    import signal

    commands = command if command and isinstance(command[0], list) else [command]
    children = [subprocess.Popen(c, env=env, start_new_session=True) for c in commands]  # signals reach them once

    def forward(signum, _frame):
        for child in children:
            if child.poll() is None:
                child.send_signal(signum)

    old = {sig: signal.signal(sig, forward) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        while True:
            try:
                ended = _first_to_end(children)
                forward(signal.SIGTERM, None)  # the rest go with it
                for child in children:
                    child.wait()
                return ended.returncode
            except KeyboardInterrupt:  # pragma: no cover - the handler above takes SIGINT
                forward(signal.SIGINT, None)
    finally:
        for sig, h in old.items():
            signal.signal(sig, h)


def _first_to_end(children: list[subprocess.Popen]) -> subprocess.Popen:
    while True:
        for child in children:
            if child.poll() is not None:
                return child
        time.sleep(0.2)


def register(app: typer.Typer, err, fail) -> None:
    @app.command()
    def server(
        host: str = typer.Option("127.0.0.1", help="Address to listen on (0.0.0.0 for other machines)."),
        port: int = typer.Option(4200, help="Port of the API and UI."),
        database_url: str = typer.Option(
            "",
            "--database-url",
            help="Postgres for several machines: "
            "postgresql+asyncpg://user:password@host:5432/prefect (default: SQLite).",
        ),
    ) -> None:
        """Start a Prefect server (UI + API) for vidpipe: SQLite in .vidpipe/server unless
        --database-url (or PREFECT_API_DATABASE_CONNECTION_URL) names Postgres; GPU-slot leases kept on disk."""
        from deployments import admin, machines

        env = admin.server_env(host, port)
        if database_url:
            env[machines.DB_ENV] = database_url
        db = env.get(machines.DB_ENV, "")
        if db:
            machines.check_database(db)  # a wrong URL is one line now, not a server retrying forever
        where = f"postgres {machines.shown_url(db)}" if db and not db.startswith("sqlite") else "sqlite"
        err.print(
            f"Prefect server: http://{host}:{port} (home {env['PREFECT_HOME']}; database: {where})", highlight=False
        )
        err.print(f"then, in another shell: export PREFECT_API_URL=http://{host}:{port}/api; vidpipe deploy")
        raise typer.Exit(run_forwarding(admin.server_command(host, port), env))

    @app.command()
    def deploy(
        pool: str = typer.Option("rtx3060", help="Process work pool of the GPU machines."),
        gpu_limit: str = typer.Option("gpu-rtx3060", help="Global concurrency limit guarding this machine's GPU."),
        slots: int = typer.Option(2, min=1, max=64, help="GPU steps at once on that GPU."),
    ) -> None:
        """Create (or update) the work pool, the GPU limit and the deployments on the
        server at PREFECT_API_URL. Safe to run again."""
        from deployments import admin

        names = admin.deploy(pool, gpu_limit, slots)
        err.print(f"work pool {pool}, GPU limit {gpu_limit} ({slots} slots), deployments: {', '.join(names)}")
        err.print(f"start a worker on each GPU machine: vidpipe worker --pool {pool} --gpu-limit {gpu_limit}")

    @app.command()
    def worker(
        pool: str = typer.Option("rtx3060", help="Work pool to take flow runs from."),
        gpu_limit: str = typer.Option(
            "gpu-rtx3060", help="This machine's GPU limit (one per GPU machine: gpu-<machine>)."
        ),
        gpu_slots: int = typer.Option(2, min=1, max=64, help="Slots of that limit when it has to be created."),
        limit: int = typer.Option(4, min=1, help="Flow runs at once on this machine (GPU steps are limited apart)."),
        name: str = typer.Option("", help="Worker name (default: pool-machine)."),
        machine: str = typer.Option("", help="This machine's name (default: VIDPIPE_MACHINE, else the host name)."),
        spread: bool = typer.Option(
            False,
            "--spread",
            help="Also take segments of any machine's videos, as many at "
            "once as --gpu-slots (needs one VIDPIPE_HOME shared by every machine).",
        ),
    ) -> None:
        """Run flow runs from the work pool on this machine, holding slots of its own GPU limit;
        with --spread, also a task worker that makes upscale/restore_faces segments of any run."""
        from vidpipe.paths import check_home
        from vidpipe.telemetry import machine_name

        check_home()  # before anything writes there
        from deployments import admin, machines

        machine = machine or machine_name()
        name = name or f"{pool}-{machine}"
        env = admin.worker_env(gpu_limit)
        env["VIDPIPE_MACHINE"] = machine  # the flow runs and the task worker it starts name this machine so
        err.print(machines.register_worker(pool, name, machine, gpu_limit, gpu_slots), highlight=False)
        stored = machines.check_result_storage(machine)  # an unreachable object store: one line, before any run
        if stored:
            err.print(stored, highlight=False)
        commands = [admin.worker_command(pool, limit, name)]
        if spread:
            commands.append(admin.task_worker_command(gpu_slots))
            err.print(
                f"machine {machine} also takes segments of any run, {gpu_slots} at a time (shared work folder "
                f"{env['VIDPIPE_HOME']})",
                highlight=False,
            )
        raise typer.Exit(run_forwarding(commands, env))

    @app.command()
    def watch(
        folder: Path = typer.Argument(Path("downloads"), help="Folder to watch for new videos."),
        out: Path = typer.Option(Path("final_output"), "--out", "-o", help="Output folder."),
        deployment: str = typer.Option(
            "enhance-video/enhance-video", help="Deployment to run (with PREFECT_API_URL); else runs here."
        ),
        settle: float = typer.Option(5.0, help="Seconds a file must stay unchanged before it counts as written."),
        interval: float = typer.Option(2.0, help="Seconds between looks at the folder."),
        once: bool = typer.Option(False, help="Start what is ready now and exit (for cron and tests)."),
    ) -> None:
        """Start a run for each new video in FOLDER once it has finished writing."""
        from app.watch import Settler
        from deployments import admin

        if not folder.is_dir():
            fail(f"{folder}: no such folder")
        settler = Settler(folder, settle)
        remote = bool(os.environ.get("PREFECT_API_URL"))
        err.print(f"watching {folder} ({'runs on ' + deployment if remote else 'runs here'}); Ctrl-C stops")
        deadline = time.monotonic() + settle + interval if once else None
        while True:
            for video in settler.poll():
                err.print(admin.start_run(video, out, deployment if remote else None), highlight=False)
            if deadline is not None and time.monotonic() > deadline:
                return
            time.sleep(interval)
