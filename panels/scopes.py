"""What a request may read: a project (members), or a comparison's runs (share links, issue #5).

Data views take a scope instead of a project, so one implementation of every payload serves
`/api/v1/projects/{slug}/…`, `/api/v1/comparisons/{id}/…` and `/api/v1/shared/{token}/…` alike,
and a share link can never reach a run outside its comparison: the scope is the only way a view
gets a run, an image or a set of runs.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

from django.db.models import QuerySet

from hub.comparisons import Resolved
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

    @abstractmethod
    def runs_queryset(self) -> QuerySet[Run]:
        """Every run of the scope (for reads over many runs at once)."""

    @abstractmethod
    def ordered_run_ids(self) -> list[int]:
        """The scope's run ids in the order its runs list shows them."""


class ProjectScope(RunScope):
    def __init__(self, project: Project, url_prefix: str | None = None) -> None:
        self.project = project
        self.url_prefix = url_prefix or f"/api/v1/projects/{project.slug}"

    def run_get(self, *, name: str | None = None, run_id: int | None = None) -> Run:
        return selectors.run_get(project=self.project, name=name, run_id=run_id)

    def image_get(self, *, image_id: int) -> ImagePoint:
        return selectors.image_get(project=self.project, image_id=image_id)

    def runs_queryset(self) -> QuerySet[Run]:
        return selectors.runs_queryset(project=self.project)

    def ordered_run_ids(self) -> list[int]:
        return [r["id"] for r in selectors.runs_list(project=self.project)]


class ComparisonScope(RunScope):
    """Exactly the AVAILABLE runs of one comparison (hub.comparisons.resolve_runs): not the
    projects' other runs, not its hidden runs or runs whose data was deleted, nor runs of projects
    its owner can no longer read. A name resolves only if it is unique within the comparison."""

    def __init__(self, resolved: Resolved, url_prefix: str) -> None:
        self.resolved = resolved
        self.url_prefix = url_prefix

    def run_get(self, *, name: str | None = None, run_id: int | None = None) -> Run:
        available = self.resolved.available
        if run_id is not None:
            run = available.get(run_id)
            if run is None:
                raise selectors.NotFound("no such run")
            return run
        matches = [e for e in self.resolved.entries if e.name == name]
        if len(matches) > 1:
            raise selectors.NotFound(
                "run name is ambiguous in this comparison: pass run_id instead"
            )
        if not matches or matches[0].run_id not in available:
            raise selectors.NotFound("no such run")
        return available[matches[0].run_id]

    def image_get(self, *, image_id: int) -> ImagePoint:
        return selectors.image_get_in_runs(run_ids=list(self.resolved.available), image_id=image_id)

    def runs_queryset(self) -> QuerySet[Run]:
        return Run.objects.filter(pk__in=list(self.resolved.available))

    def ordered_run_ids(self) -> list[int]:
        return list(self.resolved.available)
