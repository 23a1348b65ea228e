"""Retention and storage API (issue #5; docs/RETENTION.md).

- `GET/PUT /api/v1/retention`: the global default policy (admins).
- `GET/PUT /api/v1/projects/{slug}/retention`: a project's override and effective policy
  (admins); `GET …/retention/preview`: the dry run (admins).
- `GET /api/v1/projects/{slug}/storage`: stored bytes by kind and the effective policy (members).
- `POST /api/v1/projects/{slug}/runs/{id}/delete-data` `{"confirm": "<run name>"}`: delete a
  run's stored data (owners); `POST …/runs/{id}/reingest`: read it again from byte 0 (owners).

Policy fields: whole numbers or null. On the global policy null means "no limit"; on a project,
null means "use the global value" and 0 means "no limit for this project".
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from hub import selectors, services
from hub.access import (
    AccessDenied,
    ProjectAccess,
    is_admin,
    project_access,
    require_user,
    require_write_credentials,
)
from hub.api.common import HubAPIView, int_query, via
from hub.api.projects import ERRORS
from hub.api.runs import run_status
from hub.api.serializers import ErrorOut, RunStatusOut
from hub.errors import ServiceError
from ingest import retention
from ingest.models import RetentionPolicy

TAG = ["retention"]
PREVIEW_MAX_CHUNKS = retention.PREVIEW_MAX_CHUNKS


def _policy_field(help_text: str) -> serializers.IntegerField:
    return serializers.IntegerField(
        required=False, allow_null=True, min_value=0, help_text=help_text
    )


class PolicyIn(serializers.Serializer):
    idle_days = _policy_field("Drop the stored data of runs with no new events for N days.")
    max_images_per_tag = _policy_field("Keep the newest N image steps per run and tag.")
    downsample_after_days = _policy_field(
        "Downsample scalar points older than N days (event wall time)."
    )
    downsample_bucket = _policy_field(
        "Bucket size in points: the first, last, min and max of each are kept (default 100)."
    )
    max_bytes = _policy_field("Cap on a project's stored bytes.")


class PolicyOut(serializers.Serializer):
    idle_days = serializers.IntegerField(allow_null=True)
    max_images_per_tag = serializers.IntegerField(allow_null=True)
    downsample_after_days = serializers.IntegerField(allow_null=True)
    downsample_bucket = serializers.IntegerField(allow_null=True)
    max_bytes = serializers.IntegerField(allow_null=True)


class GlobalPolicyOut(serializers.Serializer):
    policy = PolicyOut()
    updated_at = serializers.DateTimeField(allow_null=True)
    updated_by = serializers.CharField(allow_null=True)


class ProjectPolicyOut(serializers.Serializer):
    project = serializers.CharField()
    override = PolicyOut(help_text="The project's own values (null: use the global value).")
    effective = PolicyOut()
    origin = serializers.DictField(
        child=serializers.ChoiceField(choices=["project", "global", "default"])
    )
    updated_at = serializers.DateTimeField(allow_null=True)
    updated_by = serializers.CharField(allow_null=True)


# "global" is a keyword: declared after the class (the response's key is "global").
ProjectPolicyOut._declared_fields["global"] = PolicyOut(help_text="The global default values.")


class StorageOut(serializers.Serializer):
    total_bytes = serializers.IntegerField()
    by_kind = serializers.DictField(
        child=serializers.IntegerField(),
        help_text="scalars, histograms, images, text, tensors, graphs",
    )
    runs = serializers.IntegerField()
    runs_data_deleted = serializers.IntegerField()
    policy = PolicyOut()
    policy_origin = serializers.DictField(child=serializers.CharField())
    max_bytes = serializers.IntegerField(allow_null=True)
    over_cap = serializers.BooleanField()


class PlanTotalsOut(serializers.Serializer):
    runs_dropped_idle = serializers.IntegerField()
    runs_dropped_cap = serializers.IntegerField()
    image_series = serializers.IntegerField()
    images_removed = serializers.IntegerField()
    chunks_downsampled = serializers.IntegerField()
    points_removed = serializers.IntegerField()
    bytes_freed = serializers.IntegerField()
    bytes_freed_by_stage = serializers.DictField(child=serializers.IntegerField())


class PlanOut(serializers.Serializer):
    project = serializers.CharField()
    now = serializers.DateTimeField()
    policy = PolicyOut()
    policy_origin = serializers.DictField(child=serializers.CharField())
    idle_cutoff = serializers.DateTimeField(allow_null=True)
    downsample_cutoff = serializers.DateTimeField(allow_null=True)
    stored_bytes = serializers.IntegerField()
    bytes_after = serializers.IntegerField()
    over_cap_after = serializers.BooleanField()
    exact = serializers.BooleanField(
        help_text="False when the downsampling part was estimated (pass exact=true)."
    )
    totals = PlanTotalsOut()
    runs = serializers.ListField(
        child=serializers.DictField(), help_text="Runs whose data would go: id, name, reason, bytes"
    )
    images = serializers.ListField(child=serializers.DictField())
    downsample = serializers.ListField(child=serializers.DictField())


class DeleteDataIn(serializers.Serializer):
    confirm = serializers.CharField(
        trim_whitespace=False, help_text="The run's name, exactly: confirms the deletion."
    )


class DeleteDataOut(RunStatusOut):
    bytes_freed = serializers.IntegerField()


class QueuedOut(serializers.Serializer):
    queued = serializers.BooleanField()


def _who(row: RetentionPolicy | None) -> tuple[str | None, str | None]:
    if row is None:
        return None, None
    by = row.updated_by.get_username() if row.updated_by else None
    return row.updated_at.isoformat(), by


def global_policy_out() -> dict[str, Any]:
    row = retention.policy_global()
    at, by = _who(row)
    return {"policy": retention.policy_values(row), "updated_at": at, "updated_by": by}


def project_policy_out(access: ProjectAccess) -> dict[str, Any]:
    project = access.project
    own = RetentionPolicy.objects.filter(project=project).select_related("updated_by").first()
    glob = retention.policy_global()
    eff = retention.policy_resolve(glob, own)
    at, by = _who(own)
    return {
        "project": project.slug,
        "override": retention.policy_values(own),
        "global": retention.policy_values(glob),
        "effective": eff.as_dict(),
        "origin": dict(eff.origin),
        "updated_at": at,
        "updated_by": by,
    }


def _admin_access(request: Request, slug: str, *, write: bool = False) -> ProjectAccess:
    access = project_access(request, slug)
    if write:
        require_write_credentials(request)
    if not access.can("retention.manage"):
        raise AccessDenied("only administrators manage retention policies")
    return access


class GlobalRetentionView(HubAPIView):
    def _admin(self, request: Request) -> Any:
        user = require_user(request)
        if not is_admin(user):
            raise AccessDenied("only administrators manage retention policies")
        return user

    @extend_schema(
        operation_id="retention_global_read",
        tags=TAG,
        summary="The global default retention policy (admins)",
        responses={200: GlobalPolicyOut, 401: ErrorOut, 403: ErrorOut},
    )
    def get(self, request: Request) -> Response:
        self._admin(request)
        return Response(global_policy_out())

    @extend_schema(
        operation_id="retention_global_update",
        tags=TAG,
        summary="Change the global default policy (admins; null = no limit)",
        request=PolicyIn,
        responses={200: GlobalPolicyOut, 400: ErrorOut, 401: ErrorOut, 403: ErrorOut},
    )
    def put(self, request: Request) -> Response:
        user = self._admin(request)
        require_write_credentials(request)
        if not isinstance(request.data, dict):
            raise ServiceError("the request body must be a JSON object")
        services.retention_policy_update(
            project=None, user=user, values=dict(request.data), via=via(request)
        )
        return Response(global_policy_out())


class ProjectRetentionView(HubAPIView):
    @extend_schema(
        operation_id="retention_project_read",
        tags=TAG,
        summary="A project's retention override and effective policy (admins)",
        responses={200: ProjectPolicyOut, **ERRORS},
    )
    def get(self, request: Request, slug: str) -> Response:
        return Response(project_policy_out(_admin_access(request, slug)))

    @extend_schema(
        operation_id="retention_project_update",
        tags=TAG,
        summary="Change a project's retention override (admins; null = global, 0 = no limit)",
        request=PolicyIn,
        responses={200: ProjectPolicyOut, **ERRORS},
    )
    def put(self, request: Request, slug: str) -> Response:
        access = _admin_access(request, slug, write=True)
        if not isinstance(request.data, dict):
            raise ServiceError("the request body must be a JSON object")
        services.retention_policy_update(
            project=access.project, user=access.user, values=dict(request.data), via=via(request)
        )
        return Response(project_policy_out(access))


class ProjectRetentionPreviewView(HubAPIView):
    @extend_schema(
        operation_id="retention_project_preview",
        tags=TAG,
        summary="Dry run: what enforcing the project's policy now would delete (admins)",
        parameters=[
            OpenApiParameter(
                "exact",
                OpenApiTypes.BOOL,
                description=f"Measure every chunk to downsample (default: the first "
                f"{PREVIEW_MAX_CHUNKS}, the rest estimated).",
            ),
            OpenApiParameter(
                "max_chunks", OpenApiTypes.INT, description="Chunks measured before estimating."
            ),
        ],
        responses={200: PlanOut, **ERRORS},
    )
    def get(self, request: Request, slug: str) -> Response:
        access = _admin_access(request, slug)
        exact = request.query_params.get("exact", "").lower() in ("1", "true", "yes")
        max_chunks = int_query(request, "max_chunks", default=PREVIEW_MAX_CHUNKS, lo=0)
        plan = retention.project_plan(
            project_id=access.project.pk, max_chunks=None if exact else max_chunks
        )
        return Response(plan.as_dict())


class ProjectStorageView(HubAPIView):
    @extend_schema(
        operation_id="projects_storage",
        tags=TAG,
        summary="Bytes the hub stores for the project, by kind, and its retention policy",
        responses={200: StorageOut, **ERRORS},
    )
    def get(self, request: Request, slug: str) -> Response:
        access = project_access(request, slug)
        return Response(retention.project_storage(project_id=access.project.pk))


class RunDeleteDataView(HubAPIView):
    @extend_schema(
        operation_id="runs_delete_data",
        tags=["runs"],
        summary="Delete a run's stored data (owners; confirm with the run's name). The run "
        "stays listed and is not read again until a re-ingest; the source is never touched.",
        request=DeleteDataIn,
        responses={200: DeleteDataOut, **ERRORS},
    )
    def post(self, request: Request, slug: str, run_id: int) -> Response:
        access = project_access(request, slug, action="run.delete_data")
        run = selectors.run_get(project=access.project, run_id=run_id)
        if not isinstance(request.data, dict):
            raise ServiceError("the request body must be a JSON object")
        freed = services.run_data_delete(
            run=run,
            user=access.user,
            project=access.project,
            confirm=request.data.get("confirm"),
            via=via(request),
        )
        return Response({**run_status(access.project, run_id), "bytes_freed": freed})


class RunReingestView(HubAPIView):
    @extend_schema(
        operation_id="runs_reingest",
        tags=["runs"],
        summary="Forget a run's stored data and read its files again from byte 0 (owners); "
        "brings back data deleted by an owner or by retention",
        request=None,
        responses={202: QueuedOut, **ERRORS},
    )
    def post(self, request: Request, slug: str, run_id: int) -> Response:
        access = project_access(request, slug, action="run.reingest")
        run = selectors.run_get(project=access.project, run_id=run_id)
        services.run_reingest_request(
            run=run, user=access.user, project=access.project, via=via(request)
        )
        return Response({"queued": True}, status=status.HTTP_202_ACCEPTED)
