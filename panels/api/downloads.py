"""Downloads: every point of the scalars of one or many runs and tags, as CSV or JSON.

    GET /api/v1/projects/{slug}/scalars/download?run=A&run=B&run_id=7&tag=loss&tag=acc&format=csv

- `run` (names) and `run_id` (ids) may repeat and mix; at least one run is required.
- `tag` may repeat; without it, every scalar tag of the chosen runs.
- `format`: `csv` (default; columns `run,tag,step,wall_time,value`) or `json`
  (`{"series": [{"run", "run_id", "tag", "points": [[step, wall_time, value], …]}, …]}`).
- Numbers as everywhere in tbhub (`tbhub.jsonutil`): float32 widened exactly, non-finite values
  as "NaN"/"Infinity"/"-Infinity". Nothing is sampled.

The project comes from `hub.access` (404 for non-members), every run through the project, and
the body streams series by series, so memory stays flat however much is asked for.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import cast
from urllib.parse import quote

from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.views.decorators.http import require_GET

from hub.access import project_for_read
from hub.models import Project
from ingest.models import Kind, Run, Series
from panels import selectors
from panels.api.common import MAX_PARAM_CHARS, BadRequest, api_errors, choice_param
from tbhub import jsonutil

MAX_RUNS = 1000
MAX_TAGS = 1000
MAX_SERIES = 20_000
CSV_HEADER = ["run", "tag", "step", "wall_time", "value"]


def _list_param(request: HttpRequest, name: str, limit: int) -> list[str]:
    values = [v for v in request.GET.getlist(name) if v != ""]
    if len(values) > limit:
        raise BadRequest(f"at most {limit} '{name}' parameters")
    for v in values:
        if len(v) > MAX_PARAM_CHARS:
            raise BadRequest(f"a '{name}' parameter is longer than {MAX_PARAM_CHARS} characters")
    return list(dict.fromkeys(values))


def _runs(request: HttpRequest, project: Project) -> list[Run]:
    names = _list_param(request, "run", MAX_RUNS)
    raw_ids = _list_param(request, "run_id", MAX_RUNS)
    if not names and not raw_ids:
        raise BadRequest("missing query parameter 'run' (or 'run_id'); it may repeat")
    runs: dict[int, Run] = {}
    try:
        ids = [int(raw) for raw in raw_ids]
    except ValueError as exc:
        raise BadRequest("'run_id' must be an integer") from exc
    for name in names:  # names first, then ids, each in the order given
        run = selectors.run_get(project=project, name=name)
        runs[run.pk] = run
    for run_id in ids:
        run = selectors.run_get(project=project, run_id=run_id)
        runs[run.pk] = run
    return list(runs.values())


def _selection(request: HttpRequest, project: Project) -> list[tuple[Run, Series]]:
    runs = _runs(request, project)
    tags = _list_param(request, "tag", MAX_TAGS)
    scalar_tags: dict[int, list[str]] = {}
    if not tags:
        listing = {r["id"]: r for r in selectors.runs_list(project=project)}
        for run in runs:
            scalar_tags[run.pk] = list(listing.get(run.pk, {}).get("tags", {}).get("scalars", []))
    out: list[tuple[Run, Series]] = []
    for run in runs:
        for tag in tags or scalar_tags.get(run.pk, []):
            try:
                out.append((run, selectors.series_get(run=run, tag=tag, kind=Kind.SCALAR)))
            except selectors.NotFound:
                continue  # that run does not have that tag: fine when several were asked for
            if len(out) > MAX_SERIES:
                raise BadRequest(f"at most {MAX_SERIES} series per download")
    if not out:
        raise selectors.NotFound("no such tag")
    return out


def _csv_rows(selection: list[tuple[Run, Series]]) -> Iterator[bytes]:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(CSV_HEADER)
    yield buf.getvalue().encode()
    for run, series in selection:
        data = selectors.scalar_series_read(series=series)
        walls = [jsonutil.number_text(w) for w in data.wall_times.tolist()]
        # float32 values widen exactly through float64 (tolist of a float64 view).
        values = [jsonutil.number_text(v) for v in data.values.astype("float64").tolist()]
        steps = data.steps.tolist()
        for start in range(0, len(steps), 10_000):
            buf.seek(0)
            buf.truncate()
            writer.writerows(
                [run.name, series.tag, s, w, v]
                for s, w, v in zip(
                    steps[start : start + 10_000],
                    walls[start : start + 10_000],
                    values[start : start + 10_000],
                    strict=True,
                )
            )
            yield buf.getvalue().encode()


def _json_body(selection: list[tuple[Run, Series]]) -> Iterator[bytes]:
    yield b'{"series":['
    for i, (run, series) in enumerate(selection):
        data = selectors.scalar_series_read(series=series)
        yield b"".join(
            [
                b"," if i else b"",
                b'{"run":',
                jsonutil.dumps(run.name),
                b',"run_id":',
                jsonutil.dumps(run.pk),
                b',"tag":',
                jsonutil.dumps(series.tag),
                b',"points":',
                jsonutil.points_json(data.steps, data.wall_times, data.values),
                b"}",
            ]
        )
    yield b"]}"


def _filename(project: Project, selection: list[tuple[Run, Series]], ext: str) -> str:
    runs = {run.pk for run, _ in selection}
    tags = {series.tag for _, series in selection}
    if len(runs) == 1 and len(tags) == 1:
        run, series = selection[0]
        return f"run-{run.name}-tag-{series.tag}.{ext}"
    return f"{project.slug}-scalars.{ext}"


def _attachment(filename: str) -> str:
    safe = "".join(c if c.isalnum() or c in "-_.=" else "_" for c in filename)
    return f"attachment; filename=\"{safe}\"; filename*=UTF-8''{quote(filename)}"


@require_GET
@api_errors
def project_scalars_download(request: HttpRequest, slug: str) -> HttpResponse:
    project = project_for_read(request, slug)
    fmt = choice_param(request, "format", ("csv", "json"), "csv")
    selection = _selection(request, project)
    if fmt == "csv":
        response = StreamingHttpResponse(
            _csv_rows(selection), content_type="text/csv; charset=utf-8"
        )
    else:
        response = StreamingHttpResponse(_json_body(selection), content_type="application/json")
    response["Content-Disposition"] = _attachment(_filename(project, selection, fmt))
    response["Cache-Control"] = "private, no-cache"
    response["X-Content-Type-Options"] = "nosniff"
    # api_errors (like Django's own decorators) only passes the response through.
    return cast("HttpResponse", response)
