"""One chart of many runs in one request.

    GET /api/v1/projects/{slug}/scalars/batch?tag=T&run_id=1&run_id=2[&run_ids=3,4]
        [&max_points=N][&x=step|wall|relative][&start=&end=]
    → {"tag": T, "x": "step", "max_points": N,
       "runs": {"1": {"run": "name", "points": [[step, wall_time, value], …]}, …},
       "missing": [2]}

Points are min/max-downsampled per run exactly like `…/scalars?max_points=N` (first, last, each
bucket's min and max over [start, end]); numbers use tbhub.jsonutil (float32 widened exactly,
non-finite as strings). `missing`: requested runs of the project without that scalar tag (runs
of other projects are never revealed, they are simply missing too). Each run's points are cached
under the run's version (panels.kinds.scalars).

`scalars_batch(request, scope)` builds the payload for any `panels.scopes.RunScope`: the project
endpoint above, and the same path under `/api/v1/comparisons/{id}/` and `/api/v1/shared/{token}/`
(issue #5), where only the comparison's runs can be found.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_GET

from hub.access import project_for_read
from panels.api.common import (
    BadRequest,
    api_errors,
    choice_param,
    float_param,
    int_param,
    param,
)
from panels.kinds.http import json_bytes_gzip
from panels.kinds.scalars import scalar_batch
from panels.scopes import ProjectScope, RunScope
from tbhub import jsonutil

MAX_RUNS = 2000
DEFAULT_POINTS = 1000
MAX_POINTS = 100_000


def _run_ids(request: HttpRequest) -> list[int]:
    raw: list[str] = list(request.GET.getlist("run_id"))
    for chunk in request.GET.getlist("run_ids"):
        raw += [p for p in chunk.split(",") if p.strip()]
    if not raw:
        raise BadRequest("missing query parameter 'run_id' (repeat it, or pass run_ids=1,2,3)")
    if len(raw) > MAX_RUNS:
        raise BadRequest(f"at most {MAX_RUNS} runs per request")
    ids: list[int] = []
    for p in raw:
        try:
            value = int(p)
        except ValueError as exc:
            raise BadRequest("'run_id' must be an integer") from exc
        if not 0 < value < 2**63:
            raise BadRequest("'run_id' must be a positive 64-bit integer")
        ids.append(value)
    return list(dict.fromkeys(ids))


def scalars_batch(request: HttpRequest, scope: RunScope) -> HttpResponse:
    tag = param(request, "tag", required=True)
    assert tag is not None
    ids = _run_ids(request)
    max_points = int_param(request, "max_points", minimum=2, maximum=MAX_POINTS) or DEFAULT_POINTS
    x = choice_param(request, "x", ("step", "wall", "relative"), "step")
    start = float_param(request, "start")
    end = float_param(request, "end")
    runs, missing = scalar_batch(
        runs=scope.runs_queryset(),
        run_ids=ids,
        tag=tag,
        max_points=max_points,
        x=x,
        start=start,
        end=end,
    )
    parts: list[bytes] = [
        b'{"tag":',
        jsonutil.dumps(tag),
        b',"x":',
        jsonutil.dumps(x),
        b',"max_points":',
        str(max_points).encode(),
        b',"runs":{',
    ]
    for i, r in enumerate(runs):
        parts += [
            b"," if i else b"",
            b'"%d":{"run":' % r.run_id,
            jsonutil.dumps(r.run),
            b',"points":',
            r.points_json,
            b"}",
        ]
    parts += [b'},"missing":', jsonutil.dumps(missing), b"}"]
    return json_bytes_gzip(request, b"".join(parts))


@require_GET
@api_errors
def project_scalars_batch(request: HttpRequest, slug: str) -> HttpResponse:
    return scalars_batch(request, ProjectScope(project_for_read(request, slug)))
