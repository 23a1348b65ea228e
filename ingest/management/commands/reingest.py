"""`tbhub manage reingest`: forget what is stored for runs and read their files again from byte 0.

    tbhub manage reingest --source ID [--yes]
    tbhub manage reingest --run ID [--run ID ...] [--yes]

Calls `ingest.services.run_reingest` for each run (the workers then re-read the files). Asks for
confirmation on a terminal; without a terminal, `--yes` is required.
"""

from __future__ import annotations

import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser


class Command(BaseCommand):
    help = (
        "Re-ingest every run of a source, or the given runs, from byte 0 (stored data is dropped)."
    )
    stealth_options = ("stdin",)

    def add_arguments(self, parser: CommandParser) -> None:
        target = parser.add_mutually_exclusive_group(required=True)
        target.add_argument("--source", type=int, help="re-ingest every run of this source id")
        target.add_argument("--run", type=int, action="append", help="a run id (repeatable)")
        parser.add_argument("--yes", action="store_true", help="do not ask for confirmation")

    def handle(self, *args: Any, **options: Any) -> None:
        from ingest.models import Run, Source
        from ingest.services import run_reingest

        if options["source"] is not None:
            try:
                source = Source.objects.select_related("project").get(pk=options["source"])
            except Source.DoesNotExist:
                raise CommandError(f"no such source: {options['source']}") from None
            run_ids = list(
                Run.objects.filter(source=source).order_by("name").values_list("id", flat=True)
            )
            what = f"{len(run_ids)} runs of source {source.pk} ({source.url}, project {source.project.slug})"
        else:
            wanted = list(dict.fromkeys(options["run"]))
            found = dict(
                Run.objects.filter(pk__in=wanted).values_list("id", "source__project__slug")
            )
            missing = [r for r in wanted if r not in found]
            if missing:
                raise CommandError(f"no such run: {', '.join(str(r) for r in missing)}")
            run_ids = wanted
            projects = ", ".join(sorted(set(found.values())))
            what = f"{len(run_ids)} run{'s' if len(run_ids) != 1 else ''} (project {projects})"
        if not run_ids:
            self.stdout.write(f"nothing to do: {what}")
            return
        if not options["yes"]:
            stdin = options.get("stdin") or sys.stdin
            if not stdin.isatty():
                raise CommandError(f"re-ingesting {what} drops their stored data: pass --yes")
            self.stdout.write(f"Drop the stored data of {what} and read their files again? [y/N] ")
            if stdin.readline().strip().lower() not in ("y", "yes"):
                raise CommandError("cancelled")
        for run_id in run_ids:
            run_reingest(run_id=run_id)
        self.stdout.write(f"re-ingest queued for {what}")
