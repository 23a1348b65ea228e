"""What a request may read: a project (members), or a comparison's runs (share links, issue #5).

Data views take a scope instead of a project, so one implementation of every payload serves
`/api/v1/projects/{slug}/…` and `/api/v1/shared/{token}/…` alike, and a share link can never reach
a run outside its comparison: the scope is the only way a view gets a run.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

from hub.models import Project
from ingest.models import ImagePoint, Run
from panels import selectors


class RunScope(ABC):
    """Resolves runs and images for one request; raises selectors.NotFound outside the scope."""

    #: URL prefix of this scope's endpoints, e.g. "/api/v1/projects/vision".
    url_prefix: str

    @abstractmethod
    def run_get(self, *, name: str | None = None, run_id: int | None = None) -> Run: ...

    @abstractmethod
    def image_get(self, *, image_id: int) -> ImagePoint: ...


class ProjectScope(RunScope):
    def __init__(self, project: Project, url_prefix: str | None = None) -> None:
        self.project = project
        self.url_prefix = url_prefix or f"/api/v1/projects/{project.slug}"

    def run_get(self, *, name: str | None = None, run_id: int | None = None) -> Run:
        return selectors.run_get(project=self.project, name=name, run_id=run_id)

    def image_get(self, *, image_id: int) -> ImagePoint:
        return selectors.image_get(project=self.project, image_id=image_id)
