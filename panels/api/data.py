"""Data endpoints: runs, scalars, histograms, distributions, images, text.

Each view resolves the project the caller may read, then one selector, then serialises with
tbhub's number format (float32 widened exactly, non-finite as strings). Project-scoped paths are
`/api/v1/projects/{slug}/…`; embedded mode also answers `/api/v1/runs` and `/api/v1/scalars`.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_GET

from hub.access import embedded_project, project_for_read
from hub.models import Project
from ingest.kinds.images import sniff
from ingest.models import Kind, Run
from panels import selectors
from panels.api.common import (
    BadRequest,
    api_errors,
    choice_param,
    error_response,
    float_param,
    int_param,
    json_bytes_response,
    json_response,
    param,
)
from panels.scopes import ProjectScope, RunScope
from tbhub import jsonutil
from tbhub.cacheutil import cache_get, cache_set

MAX_POINTS_CAP = 10_000_000


def run_from_params(request: HttpRequest, scope: RunScope) -> Run:
    """The run named by `run_id=` or `run=`, resolved through the caller's scope."""
    run_id = int_param(request, "run_id", minimum=1)
    if run_id is not None:
        return scope.run_get(run_id=run_id)
    name = param(request, "run")
    if name is None:
        raise BadRequest("missing query parameter 'run' (or 'run_id')")
    return scope.run_get(name=name)


def _runs(project: Project) -> HttpResponse:
    return json_response({"runs": selectors.runs_list(project=project)})


def _scalars(request: HttpRequest, scope: RunScope) -> HttpResponse:
    run = run_from_params(request, scope)
    tag = param(request, "tag", required=True)
    assert tag is not None
    max_points = int_param(request, "max_points", minimum=2, maximum=MAX_POINTS_CAP)
    x = choice_param(request, "x", ("step", "wall", "relative"), "step")
    start = float_param(request, "start")
    end = float_param(request, "end")
    fmt = choice_param(request, "format", ("json", "csv"), "json")
    series = selectors.series_get(run=run, tag=tag, kind=Kind.SCALAR)
    # Downsampled views are small and asked for again and again by dashboards: cache them under
    # the run's version, which every commit bumps, so a cached view is never stale.
    cache_key = None
    if max_points is not None and fmt == "json":
        cache_key = f"scv:{series.pk}:{run.version}:{max_points}:{x}:{start}:{end}"
        cached = cache_get(cache_key)
        if cached is not None:
            return json_bytes_response(cached)
    if max_points is None and start is None and end is None and fmt == "json":
        return json_bytes_response(
            b"".join(
                [
                    b'{"run":',
                    jsonutil.dumps(run.name),
                    b',"tag":',
                    jsonutil.dumps(tag),
                    b',"points":',
                    *selectors.scalar_series_json_parts(series=series),
                    b"}",
                ]
            )
        )
    if max_points is None:
        data = selectors.scalar_series_read(series=series, x=x, start=start, end=end)
    else:
        data = selectors.scalar_series_downsampled(
            series=series, max_points=max_points, x=x, start=start, end=end
        )
    if fmt == "csv":
        return _scalars_csv(run.name, tag, data)
    body = b"".join(
        [
            b'{"run":',
            jsonutil.dumps(run.name),
            b',"tag":',
            jsonutil.dumps(tag),
            b',"points":',
            jsonutil.points_json(data.steps, data.wall_times, data.values),
            b"}",
        ]
    )
    if cache_key is not None:
        cache_set(cache_key, body, timeout=3600)
    return json_bytes_response(body)


def _scalars_csv(run: str, tag: str, data: selectors.ScalarSeriesData) -> HttpResponse:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["Wall time", "Step", "Value"])
    for step, wall, value in zip(
        data.steps.tolist(), data.wall_times.tolist(), data.values.tolist(), strict=True
    ):
        w.writerow([jsonutil.number_text(wall), step, jsonutil.number_text(value)])
    resp = HttpResponse(buf.getvalue(), content_type="text/csv; charset=utf-8")
    resp["Content-Disposition"] = _attachment(f"run-{run}-tag-{tag}.csv")
    return resp


def _attachment(filename: str) -> str:
    from urllib.parse import quote

    safe = "".join(c if c.isalnum() or c in "-_.=" else "_" for c in filename)
    return f"attachment; filename=\"{safe}\"; filename*=UTF-8''{quote(filename)}"


def _histograms(request: HttpRequest, scope: RunScope) -> HttpResponse:
    run = run_from_params(request, scope)
    tag = param(request, "tag", required=True)
    assert tag is not None
    series = selectors.series_get(run=run, tag=tag, kind=Kind.HISTOGRAM)
    points = [
        [step, wall, buckets.tolist()]
        for step, wall, buckets, _ in selectors.histogram_series_read(series=series)
    ]
    return json_response({"run": run.name, "tag": tag, "points": points})


def _distributions(request: HttpRequest, scope: RunScope) -> HttpResponse:
    run = run_from_params(request, scope)
    tag = param(request, "tag", required=True)
    assert tag is not None
    series = selectors.series_get(run=run, tag=tag, kind=Kind.HISTOGRAM)
    points = [
        [step, wall, pct.tolist()]
        for step, wall, _, pct in selectors.histogram_series_read(series=series)
    ]
    return json_response({"run": run.name, "tag": tag, "points": points})


def _images(request: HttpRequest, scope: RunScope) -> HttpResponse:
    run = run_from_params(request, scope)
    tag = param(request, "tag", required=True)
    assert tag is not None
    series = selectors.series_get(run=run, tag=tag, kind=Kind.IMAGE)
    steps: list[dict[str, object]] = []
    entry: dict[str, object] | None = None
    for img in selectors.image_series_read(series=series):
        # Rows are in load order; an event's images are consecutive with index 0..n-1.
        if (
            entry is None
            or img["index"] == 0
            or (img["step"], img["wall_time"]) != (entry["step"], entry["wall_time"])
        ):
            entry = {"step": img["step"], "wall_time": img["wall_time"], "images": []}
            steps.append(entry)
        images = entry["images"]
        assert isinstance(images, list)
        images.append(
            {
                "id": img["id"],
                "index": img["index"],
                "width": img["width"],
                "height": img["height"],
                "content_type": img["content_type"],
                "size": img["size"],
                "url": f"{scope.url_prefix}/images/{img['id']}",
                # Above TBHUB_IMAGE_MAX_PIXELS the bytes are not sent: decoding them could
                # exhaust a browser's memory (an image "bomb").
                "too_large": img["width"] * img["height"] > settings.TBHUB_IMAGE_MAX_PIXELS,
            }
        )
    return json_response(
        {"run": run.name, "tag": tag, "samples": series.max_samples, "steps": steps}
    )


def _image_bytes(request: HttpRequest, scope: RunScope, image_id: int) -> HttpResponse:
    img = scope.image_get(image_id=image_id)
    info = sniff(bytes(img.data[:65536]))
    width = info.width if info.width is not None else img.width
    height = info.height if info.height is not None else img.height
    if width * height > settings.TBHUB_IMAGE_MAX_PIXELS:
        return error_response(
            413,
            f"image of {width}x{height} pixels is above TBHUB_IMAGE_MAX_PIXELS="
            f"{settings.TBHUB_IMAGE_MAX_PIXELS}: not sent to the browser",
        )
    etag = f'"{img.sha256}"'
    if request.headers.get("If-None-Match") == etag:
        resp = HttpResponse(status=304)
    else:
        resp = HttpResponse(bytes(img.data), content_type=img.content_type)
    resp["ETag"] = etag
    # Image bytes never change for an id; private because access is per user.
    resp["Cache-Control"] = "private, max-age=31536000, immutable"
    resp["X-Content-Type-Options"] = "nosniff"
    resp["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return resp


def _text(request: HttpRequest, scope: RunScope) -> HttpResponse:
    run = run_from_params(request, scope)
    tag = param(request, "tag", required=True)
    assert tag is not None
    series = selectors.series_get(run=run, tag=tag, kind=Kind.TEXT)
    points = [
        {"step": t["step"], "wall_time": t["wall_time"], "shape": t["shape"], "values": t["values"]}
        for t in selectors.text_series_read(series=series)
    ]
    return json_response({"run": run.name, "tag": tag, "points": points})


# ---- URL-bound views --------------------------------------------------------------------------

Handler = Callable[[HttpRequest, RunScope], HttpResponse]

# The payload builders, by endpoint name: share-link views (issue #5) reuse exactly these.
HANDLERS: dict[str, Handler] = {
    "scalars": _scalars,
    "histograms": _histograms,
    "distributions": _distributions,
    "images": _images,
    "text": _text,
}


def image_bytes(request: HttpRequest, scope: RunScope, image_id: int) -> HttpResponse:
    return _image_bytes(request, scope, image_id)


def _project_view(handler: Handler) -> Callable[[HttpRequest, str], HttpResponse]:
    @require_GET
    @api_errors
    def view(request: HttpRequest, slug: str) -> HttpResponse:
        return handler(request, ProjectScope(project_for_read(request, slug)))

    return view


def _embedded_view(handler: Handler) -> Callable[[HttpRequest], HttpResponse]:
    @require_GET
    @api_errors
    def view(request: HttpRequest) -> HttpResponse:
        return handler(request, ProjectScope(embedded_project()))

    return view


def _runs_view(request: HttpRequest, scope: RunScope) -> HttpResponse:
    assert isinstance(scope, ProjectScope)
    return _runs(scope.project)


project_runs = _project_view(_runs_view)
project_scalars = _project_view(_scalars)
project_histograms = _project_view(_histograms)
project_distributions = _project_view(_distributions)
project_images = _project_view(_images)
project_text = _project_view(_text)


@require_GET
@api_errors
def project_image_bytes(request: HttpRequest, slug: str, image_id: int) -> HttpResponse:
    return _image_bytes(request, ProjectScope(project_for_read(request, slug)), image_id)


embedded_runs = _embedded_view(_runs_view)
embedded_scalars = _embedded_view(_scalars)
