"""Data endpoints under /api/v1/ (project-scoped, plus the embedded aliases, plus a comparison's
runs for its owner and through share links: panels.api.shared)."""

from django.urls import path

from panels.api import batch, data, downloads, graphs, hparams, prefs, shared

urlpatterns = [
    path("runs", data.embedded_runs),
    path("scalars", data.embedded_scalars),
    path("projects/<slug:slug>/runs", data.project_runs),
    path("projects/<slug:slug>/scalars", data.project_scalars),
    path("projects/<slug:slug>/histograms", data.project_histograms),
    path("projects/<slug:slug>/distributions", data.project_distributions),
    path("projects/<slug:slug>/images", data.project_images),
    path("projects/<slug:slug>/images/<int:image_id>", data.project_image_bytes),
    path("projects/<slug:slug>/text", data.project_text),
    path("projects/<slug:slug>/scalars/batch", batch.project_scalars_batch),
    path("projects/<slug:slug>/graphs", graphs.project_graph),
    path("projects/<slug:slug>/graphs/info", graphs.project_graph_info),
    path("projects/<slug:slug>/prefs", prefs.project_prefs),
    path("projects/<slug:slug>/scalars/download", downloads.project_scalars_download),
    path("projects/<slug:slug>/hparams", hparams.project_hparams),
    # Comparisons (issue #5): the same payloads over a comparison's runs only.
    path("shared/<slug:token>", shared.shared_view),
    path("shared/<slug:ident>/images/<int:image_id>", shared.shared_image),
    *(path(f"shared/<slug:ident>/{name}", view) for name, view in shared.SHARED.items()),
    path("comparisons/<slug:ident>/images/<int:image_id>", shared.owner_image),
    *(path(f"comparisons/<slug:ident>/{name}", view) for name, view in shared.OWNER.items()),
]
