"""The `tbhub` command. Documented in README.md#cli.

    tbhub serve --logdir PATH_OR_URL [--port 6006] [--host 127.0.0.1] [--db PATH]
    tbhub export SOURCE [--format jsonl|csv] [--run REGEX] [--tag REGEX]
    tbhub ingest SOURCE --project NAME           (team mode backfill)
    tbhub web [--host H] [--port P]              (team mode: ASGI server, HTTP + websockets)
    tbhub worker [celery worker options]         (team mode)
    tbhub beat                                   (team mode, exactly one per deployment)
    tbhub manage ARGS...                         (Django management commands)

Every subcommand that only prints data writes it to stdout; logs and progress go to stderr.
"""

from __future__ import annotations

import argparse
import hashlib
import ipaddress
import os
import sys
import tempfile
from collections.abc import Mapping

os.environ.setdefault("GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT", "false")

TEAM_VARS = ("DATABASE_URL", "REDIS_URL", "TBHUB_SECRET_KEY")


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _team_configured() -> bool:
    return all(os.environ.get(v) for v in TEAM_VARS)


def _setup_django(settings_module: str | None = None) -> None:
    if settings_module:
        os.environ["DJANGO_SETTINGS_MODULE"] = settings_module
    else:
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tbhub.settings")
    import django

    django.setup()


def cmd_serve(args: argparse.Namespace) -> int:
    if not _is_loopback(args.host) and not _team_configured():
        sys.stderr.write(
            f"tbhub serve: refusing to bind to {args.host}: the embedded hub has no login and "
            "is for this machine only. Bind to 127.0.0.1, or run team mode (DATABASE_URL, "
            "REDIS_URL, TBHUB_SECRET_KEY) with `tbhub web`.\n"
        )
        return 2
    logdir = args.logdir
    if "://" not in logdir:
        logdir = os.path.abspath(os.path.expanduser(logdir))
        if not os.path.isdir(logdir):
            sys.stderr.write(f"tbhub serve: {logdir}: no such directory\n")
            return 2
    tmp: tempfile.TemporaryDirectory[str] | None = None
    if args.db:
        db_path = os.path.abspath(args.db)
    else:
        tmp = tempfile.TemporaryDirectory(prefix="tbhub-")
        db_path = os.path.join(tmp.name, "tbhub.sqlite3")
    os.environ["TBHUB_DB_PATH"] = db_path
    os.environ["TBHUB_EMBEDDED_LOGDIR"] = logdir
    os.environ["DJANGO_SETTINGS_MODULE"] = "tbhub.settings.embedded"
    from tbhub.embedded import serve

    try:
        return serve(logdir, args.host, args.port)
    except KeyboardInterrupt:
        return 0
    finally:
        if tmp is not None:
            tmp.cleanup()


def cmd_export(argv: list[str]) -> int:
    from ingest.export import export_main

    return export_main(argv)


def cmd_ingest(args: argparse.Namespace) -> int:
    _setup_django()
    from tbhub.backfill import backfill

    return backfill(args.source, project=args.project, options={}, quiet=args.quiet)


def cmd_web(args: argparse.Namespace) -> int:
    _setup_django()
    import uvicorn

    uvicorn.run(
        "tbhub.asgi:application",
        host=args.host,
        port=args.port,
        workers=args.workers,
        lifespan="off",
        log_level=os.environ.get("TBHUB_LOG_LEVEL", "info").lower(),
        proxy_headers=True,
    )
    return 0


def cmd_worker(extra: list[str]) -> int:
    from tbhub.celery import app

    argv = ["worker", "-Q", "poll,ingest", "-O", "fair", "--without-gossip", "--without-mingle"]
    if not any(a.startswith(("-l", "--loglevel")) for a in extra):
        argv += ["-l", os.environ.get("TBHUB_LOG_LEVEL", "info").lower()]
    app.worker_main(argv + extra)
    return 0


def beat_schedule_path(environ: Mapping[str, str] | None = None) -> str:
    """Where beat keeps its schedule state: one file per hub (Redis URL and key prefix), so two
    hubs' beats on one machine never share (and fight over) one file."""
    env = os.environ if environ is None else environ
    ident = "\0".join((env.get("REDIS_URL", ""), env.get("TBHUB_REDIS_PREFIX", "")))
    digest = hashlib.sha256(ident.encode("utf-8", "surrogatepass")).hexdigest()[:12]
    return os.path.join(tempfile.gettempdir(), f"tbhub-celerybeat-schedule-{digest}")


def cmd_beat(extra: list[str]) -> int:
    from tbhub.celery import app

    argv = ["beat", "--pidfile="]
    if not any(a == "-s" or a.startswith(("-s", "--schedule")) for a in extra):
        argv += ["-s", beat_schedule_path()]
    if not any(a.startswith(("-l", "--loglevel")) for a in extra):
        argv += ["-l", os.environ.get("TBHUB_LOG_LEVEL", "info").lower()]
    app.start(argv + extra)
    return 0


def cmd_manage(extra: list[str]) -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tbhub.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(["tbhub manage", *extra])
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="tbhub", description="A team-wide TensorBoard hub.")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("serve", help="serve one log directory on this machine (embedded mode)")
    s.add_argument("--logdir", required=True, help="local path, s3://bucket/prefix or gs://...")
    s.add_argument("--port", type=int, default=6006)
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument(
        "--db", default=None, help="SQLite file to keep the store in (default: temporary)"
    )

    sub.add_parser(
        "export", help="decode a log directory and print it (JSONL or CSV)", add_help=False
    )

    i = sub.add_parser("ingest", help="team mode: backfill a source into a project")
    i.add_argument("source")
    i.add_argument("--project", required=True, help="project slug (created if missing)")
    i.add_argument("--quiet", action="store_true")

    w = sub.add_parser("web", help="team mode: the ASGI server (HTTP + websockets)")
    w.add_argument("--host", default="127.0.0.1")
    w.add_argument("--port", type=int, default=8000)
    w.add_argument("--workers", type=int, default=1)

    sub.add_parser(
        "worker", help="team mode: a Celery worker (extra args go to celery)", add_help=False
    )
    sub.add_parser(
        "beat", help="team mode: the Celery beat scheduler (run exactly one)", add_help=False
    )
    sub.add_parser("manage", help="Django management commands", add_help=False)
    return p


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    passthrough = {
        "export": cmd_export,
        "worker": cmd_worker,
        "beat": cmd_beat,
        "manage": cmd_manage,
    }
    if argv and argv[0] in passthrough:
        return passthrough[argv[0]](argv[1:])
    if argv and argv[0] == "token":
        from hub.cli import token_main

        return token_main(argv[1:])
    args = build_parser().parse_args(argv)
    handlers = {"serve": cmd_serve, "ingest": cmd_ingest, "web": cmd_web}
    return handlers[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
