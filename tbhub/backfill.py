"""`tbhub ingest SOURCE --project NAME`: team-mode backfill in the foreground, with progress.

Runs the same services as the workers (listing, then tails) in this process, so a large history
can be loaded before the hub goes live, or on a machine next to the data.
"""

from __future__ import annotations

import sys
from typing import Any

from django.db.models import F, Sum


def backfill(url: str, *, project: str, options: dict[str, Any], quiet: bool = False) -> int:
    from tqdm import tqdm

    from hub.models import Project
    from ingest import dispatch, services
    from ingest.models import EventFile, Run, Source

    proj, _ = Project.objects.get_or_create(slug=project, defaults={"name": project})
    source = Source.objects.filter(project=proj, url=url).first()
    if source is None:
        source = Source.objects.create(project=proj, url=url, options=options)
    queued: list[int] = []
    dispatch.local_set(lambda kind, ident: queued.append(ident) if kind == "tail" else None)
    try:
        services.source_list(source_id=source.pk)
        source.refresh_from_db()
        if source.status not in ("ok",):
            sys.stderr.write(f"tbhub ingest: {source.status_message}\n")
            return 1
        files = EventFile.objects.filter(run__source=source)
        total = files.aggregate(n=Sum("size"))["n"] or 0
        done = files.aggregate(n=Sum("offset"))["n"] or 0
        bar = tqdm(
            total=total,
            initial=done,
            unit="B",
            unit_scale=True,
            disable=quiet or None,
            file=sys.stderr,
            desc=project,
        )
        pending = list(
            Run.objects.filter(source=source, files__size__gt=F("files__offset"))
            .values_list("id", flat=True)
            .distinct()
        )
        for run_id in pending:
            while True:
                res = services.run_tail(run_id=run_id, budget_seconds=30.0)
                bar.update(res.bytes_read)
                if not res.more:
                    break
        bar.close()
    finally:
        dispatch.local_set(None)
    return 0
