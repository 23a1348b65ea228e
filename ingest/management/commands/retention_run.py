"""`tbhub manage retention_run`: enforce the retention policies now, or show what that would do.

    tbhub manage retention_run --dry-run [--project SLUG ...]   what would be deleted (no change)
    tbhub manage retention_run [--project SLUG ...]             enforce now, batch after batch

Without --project, every project whose policy limits anything. Enforcement is what the daily
beat task does (same bounded batches, same `now` for the whole pass), run in this process; each
project's pass is logged and written to the audit log (via "cli"). Documented in
docs/RETENTION.md.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.template.defaultfilters import filesizeformat


def _size(n: int) -> str:
    return f"{filesizeformat(n)} ({n} bytes)"


class Command(BaseCommand):
    help = "Enforce the retention policies now (or --dry-run: print what would be deleted)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--dry-run", action="store_true", help="change nothing; print what would be deleted"
        )
        parser.add_argument(
            "--project", action="append", metavar="SLUG", help="only this project (repeatable)"
        )
        parser.add_argument(
            "--batch", type=int, default=None, help="units of work per batch (default: setting)"
        )
        parser.add_argument(
            "--verbose-runs", action="store_true", help="list every run whose data goes"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        from django.utils import timezone

        from hub.models import Project
        from ingest import retention

        slugs = options["project"]
        if slugs:
            found = dict(Project.objects.filter(slug__in=slugs).values_list("slug", "id"))
            missing = [s for s in slugs if s not in found]
            if missing:
                raise CommandError(f"no such project: {', '.join(missing)}")
            project_ids = [found[s] for s in dict.fromkeys(slugs)]
        else:
            project_ids = retention.project_ids_with_policy()
        if not project_ids:
            self.stdout.write("no project has a retention policy that limits anything")
            return
        now = timezone.now()
        slug_of = dict(Project.objects.filter(pk__in=project_ids).values_list("id", "slug"))
        if options["dry_run"]:
            self.stdout.write(f"dry run at {now.isoformat()} (nothing is changed)")
            for pid in project_ids:
                plan = retention.project_plan(project_id=pid, now=now)
                self._print_plan(plan, verbose=options["verbose_runs"])
            return
        budget = options["batch"]
        if budget is not None and budget < 1:
            raise CommandError("--batch must be at least 1")
        run = retention.RetentionPass(project_ids=project_ids, now=now, budget=budget, via="cli")
        results = run.run()
        self.stdout.write(f"retention enforced at {now.isoformat()}")
        for pid in project_ids:
            out = results.get(pid, retention.Outcome())
            stored = retention.project_stored_bytes(project_id=pid)
            self.stdout.write(
                f"{slug_of.get(pid, pid)}: {self._line(out)}; "
                f"now stored {_size(stored)} ({run.batches.get(pid, 0)} batches)"
            )
            if options["verbose_runs"]:
                for r in out.dropped:
                    self.stdout.write(f"  - {r['name']} (#{r['id']}, {r['reason']})")

    def _line(self, out: Any) -> str:
        return (
            f"{out.idle_runs} idle run(s) emptied, {out.images_removed} image(s) removed from "
            f"{out.image_series} series, {out.points_removed} scalar point(s) removed from "
            f"{out.chunks} chunk(s), {out.cap_runs} run(s) emptied for the cap; "
            f"{_size(out.bytes_freed)} freed"
        )

    def _print_plan(self, plan: Any, *, verbose: bool) -> None:
        p = plan.policy
        self.stdout.write(f"{plan.slug}:")
        self.stdout.write(
            "  policy: "
            + ", ".join(f"{k}={v if v is not None else '-'}" for k, v in p.as_dict().items())
        )
        self.stdout.write(f"  stored now: {_size(plan.stored_bytes)}")
        self.stdout.write(f"  would: {self._line(plan.outcome)}")
        after = _size(plan.bytes_after)
        cap = "" if p.max_bytes is None else f" (cap {_size(p.max_bytes)})"
        over = "  STILL OVER THE CAP (active runs are never emptied)" if plan.over_cap_after else ""
        self.stdout.write(f"  stored after: {after}{cap}{over}")
        if verbose:
            for r in plan.outcome.dropped:
                self.stdout.write(f"  - {r['name']} (#{r['id']}, {r['reason']}, {r['bytes']} B)")
