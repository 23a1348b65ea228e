"""Routes of the operations endpoints (tbhub.ops), included first in tbhub/urls.py.

`tbhub.ops.ProbeMiddleware`, when installed, answers the same paths before host validation; these
routes serve them either way.
"""

from django.urls import path

from tbhub import ops

urlpatterns = [
    path("healthz", ops.healthz, name="ops-healthz"),
    path("readyz", ops.readyz, name="ops-readyz"),
    path("metrics", ops.metrics, name="ops-metrics"),
]
