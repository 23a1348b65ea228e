"""`tbhub manage ingest_status`: what ingest has read, per project, source and run.

    tbhub manage ingest_status [--project SLUG] [--source ID] [--summary] [--json]

Files read / present, bytes read / total, lag (seconds since the oldest growth still unread), corrupt
records and files in trouble with their messages. Same numbers as /metrics (tbhub.ops).
"""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from tbhub.ops import ABSENT_STATES, file_aggregates, lag_seconds

# Files that stopped being read ("corrupt" files go on being read; their records are counted).
ERROR_STATES = ("stuck", "error")


def _size(n: int) -> str:
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"  # pragma: no cover


def _numbers(agg: dict[str, Any] | None, now: Any) -> dict[str, Any]:
    agg = agg or {}
    by_state = agg.get("files_by_state", {})
    return {
        "files": agg.get("files", 0),
        "files_read": agg.get("files_read", 0),
        "bytes_read": agg.get("read_bytes", 0),
        "bytes_total": agg.get("size_bytes", 0),
        "pending_bytes": agg.get("pending_bytes", 0),
        "lag_seconds": round(lag_seconds(agg.get("oldest_pending"), now), 1),
        "records": agg.get("records", 0),
        "bad_records": agg.get("bad_records", 0),
        "files_in_error": sum(by_state.get(s, 0) for s in ERROR_STATES),
        "files_missing": by_state.get("missing", 0),
        "files_deleted": by_state.get("deleted", 0),
    }


class Command(BaseCommand):
    help = "Show ingest progress and problems per project, source and run."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--project", action="append", default=[], help="project slug (repeat)")
        parser.add_argument("--source", type=int, action="append", default=[], help="source id")
        parser.add_argument("--summary", action="store_true", help="projects and sources only")
        parser.add_argument("--json", action="store_true", help="one JSON document on stdout")

    def handle(self, *args: Any, **options: Any) -> None:
        report = self.build(
            projects=options["project"], sources=options["source"], runs=not options["summary"]
        )
        if options["json"]:
            self.stdout.write(json.dumps(report, indent=2))
        else:
            self.render(report)

    def build(self, *, projects: list[str], sources: list[int], runs: bool) -> dict[str, Any]:
        from hub.models import Project
        from ingest.models import EventFile, Run, Source

        now = timezone.now()
        project_qs = Project.objects.order_by("slug")
        if projects:
            project_qs = project_qs.filter(slug__in=projects)
            missing = sorted(set(projects) - set(project_qs.values_list("slug", flat=True)))
            if missing:
                raise CommandError(f"no such project: {', '.join(missing)}")
        source_qs = Source.objects.filter(project__in=project_qs).order_by("id")
        if sources:
            source_qs = source_qs.filter(pk__in=sources)
            found = set(source_qs.values_list("pk", flat=True))
            if set(sources) - found:
                missing_ids = ", ".join(str(s) for s in sorted(set(sources) - found))
                raise CommandError(f"no such source: {missing_ids}")
            project_qs = project_qs.filter(sources__in=source_qs).distinct()
        source_ids = list(source_qs.values_list("pk", flat=True))
        by_project = file_aggregates("run__source__project_id", run__source_id__in=source_ids)
        by_source = file_aggregates("run__source_id", run__source_id__in=source_ids)
        by_run: dict[int, dict[str, Any]] = {}
        run_rows: dict[int, list[dict[str, Any]]] = {}
        problems: dict[int, list[dict[str, str]]] = {}
        if runs:
            by_run = file_aggregates("run_id", run__source_id__in=source_ids)
            for run in (
                Run.objects.filter(source_id__in=source_ids)
                .order_by("source_id", "name")
                .values("id", "source_id", "name", "missing", "pending", "hidden")
            ):
                run_rows.setdefault(run["source_id"], []).append(dict(run))
            for f in (
                EventFile.objects.filter(run__source_id__in=source_ids)
                .exclude(state="ok", bad_records=0)
                .exclude(state__in=ABSENT_STATES)
                .order_by("run_id", "name")
                .values("run_id", "name", "state", "error", "bad_records")
            ):
                problems.setdefault(f["run_id"], []).append(
                    {"file": f["name"], "state": f["state"], "error": f["error"]}
                )

        out: list[dict[str, Any]] = []
        sources_by_project: dict[int, list[Any]] = {}
        for s in source_qs:
            sources_by_project.setdefault(s.project_id, []).append(s)
        for project in project_qs:
            p = {
                "slug": project.slug,
                "name": project.name,
                **_numbers(by_project.get(project.pk), now),
            }
            p["sources"] = []
            for s in sources_by_project.get(project.pk, []):
                src = {
                    "id": s.pk,
                    "url": s.url,
                    "status": s.status,
                    "status_message": s.status_message,
                    "last_listed_at": s.last_listed_at.isoformat() if s.last_listed_at else None,
                    **_numbers(by_source.get(s.pk), now),
                }
                if runs:
                    src["runs"] = [
                        {
                            **r,
                            **_numbers(by_run.get(r["id"]), now),
                            "problems": problems.get(r["id"], []),
                        }
                        for r in run_rows.get(s.pk, [])
                    ]
                    for r in src["runs"]:
                        r.pop("source_id", None)
                p["sources"].append(src)
            out.append(p)
        return {"generated_at": now.isoformat(), "projects": out}

    def render(self, report: dict[str, Any]) -> None:
        w = self.stdout.write
        if not report["projects"]:
            w("no projects")
            return

        def line(d: dict[str, Any]) -> str:
            parts = [
                f"files {d['files_read']}/{d['files']}",
                f"bytes {_size(d['bytes_read'])}/{_size(d['bytes_total'])}",
                f"lag {d['lag_seconds']:.0f}s",
                f"records {d['records']}",
            ]
            if d["bad_records"]:
                parts.append(f"corrupt records {d['bad_records']}")
            if d["files_in_error"]:
                parts.append(f"files in error {d['files_in_error']}")
            if d["files_missing"]:
                parts.append(f"missing {d['files_missing']}")
            if d["files_deleted"]:
                parts.append(f"data deleted {d['files_deleted']}")
            return "  ".join(parts)

        for p in report["projects"]:
            w(f"project {p['slug']}: {line(p)}")
            for s in p["sources"]:
                msg = f" — {s['status_message']}" if s["status_message"] else ""
                w(f"  source {s['id']} {s['url']} [{s['status']}{msg}]: {line(s)}")
                for r in s.get("runs", []):
                    flags = [f for f in ("missing", "pending", "hidden") if r[f]]
                    tag = f" ({', '.join(flags)})" if flags else ""
                    w(f"    run {r['id']} {r['name']}{tag}: {line(r)}")
                    for prob in r["problems"]:
                        w(f"      {prob['state']}: {prob['file']}: {prob['error']}")
