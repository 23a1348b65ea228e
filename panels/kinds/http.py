"""HTTP helpers for the panels' large JSON answers."""

from __future__ import annotations

import gzip

from django.http import HttpRequest, HttpResponse
from django.utils.cache import patch_vary_headers

from panels.api.common import json_bytes_response

# Below this, compression is not worth a header.
GZIP_MIN_BYTES = 4096


def json_bytes_gzip(request: HttpRequest, body: bytes, status: int = 200) -> HttpResponse:
    """A JSON response compressed with gzip level 1 when the client accepts it.

    Django's GZipMiddleware compresses at level 6: ~0.65 s for the 4 MB of a 100-run chart on
    this hardware, against 0.08 s at level 1 for a 7 % larger body. Setting Content-Encoding
    here makes the middleware leave the response alone.
    """
    resp = json_bytes_response(body, status=status)
    if len(body) >= GZIP_MIN_BYTES and "gzip" in request.headers.get("Accept-Encoding", ""):
        resp.content = gzip.compress(body, compresslevel=1, mtime=0)
        resp["Content-Encoding"] = "gzip"
        patch_vary_headers(resp, ("Accept-Encoding",))
    return resp
