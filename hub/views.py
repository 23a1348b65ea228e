"""Pages: login, project list, project page (runs), members, sources, settings, tokens, audit.

Order in every view: resolve the project through `hub.access` (404 for non-members, 403 for a
role too low, login redirect without a session), then call one service or selector. Writes are
POST forms with Django's CSRF token; they redirect afterwards (except where a secret is shown
once, which is rendered directly and never stored).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import wraps
from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth import views as auth_views
from django.contrib.auth.views import redirect_to_login
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBase, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.template.defaultfilters import filesizeformat
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from hub import selectors, services
from hub.access import (
    ACTION_ROLES,
    AccessDenied,
    NotAuthenticated,
    ProjectAccess,
    ProjectNotFound,
    is_admin,
    is_embedded,
    project_access,
    request_user,
)
from hub.errors import NotFound, ServiceError
from hub.forms import (
    LoginForm,
    MemberAddForm,
    ProjectForm,
    ProjectSettingsForm,
    RetentionPolicyForm,
    RunEditForm,
    SourceForm,
    TokenForm,
)
from hub.models import Project, Role
from hub.policy import PolicyError
from ingest import retention

log = logging.getLogger("hub.views")

PageView = Callable[..., HttpResponse]


def _via(request: HttpRequest) -> str:
    return str(getattr(request, "auth_via", "") or "session")


def forbidden(request: HttpRequest, message: str) -> HttpResponse:
    return render(request, "hub/error.html", {"status": 403, "message": message}, status=403)


def team_login_required(view: PageView) -> PageView:
    """Pages of team mode: anonymous visitors go to the login form."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not is_embedded() and request_user(request) is None:
            return redirect_to_login(request.get_full_path())
        return view(request, *args, **kwargs)

    return wrapper


def project_view(view: PageView) -> PageView:
    """Resolve `slug` for reading; the view checks stronger actions itself (`access.can`)."""

    @wraps(view)
    def wrapper(request: HttpRequest, slug: str, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            access = project_access(request, slug)
        except NotAuthenticated:
            return redirect_to_login(request.get_full_path())
        except ProjectNotFound as exc:
            raise Http404("no such project") from exc
        return view(request, access, *args, **kwargs)

    return wrapper


def _require(request: HttpRequest, access: ProjectAccess, action: str) -> HttpResponse | None:
    """403 page unless the caller may do `action` (a key of ACTION_ROLES)."""
    if access.can(action):
        return None
    return forbidden(
        request,
        f"This needs the {ACTION_ROLES[action]} role in project “{access.project.name}”.",
    )


def _project_context(access: ProjectAccess, **extra: Any) -> dict[str, Any]:
    from hub.api.projects import PERMISSIONS

    return {
        "project": access.project,
        "role": access.role,
        "can": {name: access.can(action) for name, action in PERMISSIONS.items()},
        **extra,
    }


# ---- accounts ------------------------------------------------------------------------------


class LoginView(auth_views.LoginView):
    template_name = "hub/login.html"
    form_class = LoginForm
    redirect_authenticated_user = True

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if is_embedded():
            return redirect("hub:home")
        return super().dispatch(request, *args, **kwargs)

    def form_invalid(self, form: Any) -> HttpResponse:
        response = super().form_invalid(form)
        if getattr(form, "rate_limited", False):
            response.status_code = 429
        return response

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        from django.conf import settings

        ctx = super().get_context_data(**kwargs)
        ctx["oidc_enabled"] = bool(getattr(settings, "TBHUB_OIDC_ENABLED", False))
        ctx["oidc_label"] = getattr(settings, "TBHUB_OIDC_LABEL", "single sign-on")
        ctx["sso_failed"] = self.request.GET.get("sso") == "failed"
        return ctx


@require_http_methods(["GET", "POST"])
def logout_view(request: HttpRequest) -> HttpResponse:
    """POST logs out (a GET shows a confirmation form, so a link cannot log anyone out)."""
    if is_embedded():
        return redirect("hub:home")
    if request.method == "POST":
        logout(request)
        return redirect("hub:login")
    return render(request, "hub/logout.html")


class PasswordChangeView(auth_views.PasswordChangeView):
    template_name = "hub/password_change.html"

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if is_embedded():
            return redirect("hub:home")
        if request_user(request) is None:
            return redirect_to_login(request.get_full_path())
        return super().dispatch(request, *args, **kwargs)

    def get_success_url(self) -> str:
        return reverse("hub:projects")

    def form_valid(self, form: Any) -> HttpResponse:
        response = super().form_valid(form)
        messages.success(self.request, "Your password was changed.")
        return response


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """CSRF_FAILURE_VIEW: JSON under /api/, a page elsewhere."""
    from hub.middleware import api_error, is_api

    if is_api(request):
        return api_error(403, f"CSRF check failed: {reason}")
    return render(
        request,
        "hub/error.html",
        {
            "status": 403,
            "message": "The form expired or came from another site. Go back, reload the page "
            "and try again.",
        },
        status=403,
    )


# ---- projects ------------------------------------------------------------------------------


def home(request: HttpRequest) -> HttpResponse:
    """Team mode: the project list. Embedded mode: the dashboards' own home (panels)."""
    if is_embedded():
        from panels import views as panel_views

        return panel_views.index(request)
    return project_list(request)


@team_login_required
def project_list(request: HttpRequest) -> HttpResponse:
    user = request_user(request)
    projects = selectors.project_list(user=user)
    return render(request, "hub/project_list.html", {"projects": projects})


@team_login_required
@require_http_methods(["GET", "POST"])
def project_new(request: HttpRequest) -> HttpResponse:
    form = ProjectForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            project = services.project_create(
                user=request_user(request),
                name=form.cleaned_data["name"],
                slug=form.cleaned_data["slug"],
                description=form.cleaned_data["description"],
                via=_via(request),
            )
        except ServiceError as err:
            form.add_error(err.field if err.field in form.fields else None, err.message)
        except AccessDenied as err:
            return forbidden(request, str(err))
        else:
            messages.success(request, f"Project “{project.name}” created. Add a log source next.")
            return redirect("hub:sources", slug=project.slug)
    return render(request, "hub/project_new.html", {"form": form})


# The page shows this many runs at a time (the API returns them all): rendering a thousand table
# rows with their forms costs more than a second, a hundred about a tenth of that.
RUNS_PER_PAGE = 100

SORT_LABELS = [
    ("name", "Run"),
    ("source", "Source"),
    ("files", "Files"),
    ("bytes", "Read / total"),
    ("stored", "Stored"),
    ("step", "Last step"),
    ("updated", "Last update"),
    ("lag", "Lag"),
    ("errors", "Errors"),
]


@project_view
def project_page(request: HttpRequest, access: ProjectAccess) -> HttpResponse:
    """The project page: every run with its ingest status, searchable and sortable."""
    q = (request.GET.get("q") or "").strip()
    sort = request.GET.get("sort") or "name"
    if sort not in selectors.RUN_SORTS:
        sort = "name"
    order = "desc" if request.GET.get("order") == "desc" else "asc"
    show_hidden = request.GET.get("hidden", "1") != "0"
    error = ""
    try:
        runs = selectors.run_status_list(
            project=access.project,
            regex=q or None,
            sort=sort,
            descending=order == "desc",
            include_hidden=show_hidden,
        )
    except ServiceError as err:
        error, runs = err.message, []
    summary = selectors.project_summaries(project_ids=[access.project.pk])[access.project.pk]
    base_params: dict[str, str] = {"sort": sort, "order": order}
    if q:
        base_params["q"] = q
    if not show_hidden:
        base_params["hidden"] = "0"
    paginator = Paginator(runs, RUNS_PER_PAGE)
    page = paginator.get_page(request.GET.get("page"))
    pages = {
        "first": page.start_index(),
        "last": page.end_index(),
        "count": paginator.count,
        "prev": "?" + urlencode({**base_params, "page": page.previous_page_number()})
        if page.has_previous()
        else "",
        "next": "?" + urlencode({**base_params, "page": page.next_page_number()})
        if page.has_next()
        else "",
        "number": page.number,
        "num_pages": paginator.num_pages,
    }
    columns = []
    for key, label in SORT_LABELS:
        next_order = "desc" if key == sort and order == "asc" else "asc"
        params = {"sort": key, "order": next_order}
        if q:
            params["q"] = q
        if not show_hidden:
            params["hidden"] = "0"
        columns.append(
            {
                "key": key,
                "label": label,
                "href": "?" + urlencode(params),
                "active": key == sort,
                "aria_sort": ("descending" if order == "desc" else "ascending")
                if key == sort
                else "none",
            }
        )
    return render(
        request,
        "hub/project_page.html",
        _project_context(
            access,
            runs=page.object_list,
            pages=pages,
            q=q,
            sort=sort,
            order=order,
            show_hidden=show_hidden,
            regex_error=error,
            columns=columns,
            summary=summary,
            storage=retention.storage_by_project(project_ids=[access.project.pk])[
                access.project.pk
            ],
            sources=selectors.source_list(project=access.project),
            tab="runs",
        ),
    )


@require_POST
@project_view
def run_edit(request: HttpRequest, access: ProjectAccess, run_id: int) -> HttpResponse:
    denied = _require(request, access, "run.update")
    if denied:
        return denied
    try:
        run = selectors.run_get(project=access.project, run_id=run_id)
    except NotFound as exc:
        raise Http404("no such run") from exc
    op = request.POST.get("op")
    try:
        if op == "hide":
            services.run_update(
                run=run, user=access.user, project=access.project, hidden=True, via=_via(request)
            )
            messages.success(request, f"Run “{run.name}” is hidden.")
        elif op == "unhide":
            services.run_update(
                run=run, user=access.user, project=access.project, hidden=False, via=_via(request)
            )
            messages.success(request, f"Run “{run.name}” is shown again.")
        elif op == "note":
            form = RunEditForm(request.POST)
            if not form.is_valid():
                raise ServiceError("the note is too long")
            services.run_update(
                run=run,
                user=access.user,
                project=access.project,
                note=form.cleaned_data["note"],
                via=_via(request),
            )
            messages.success(request, f"Note saved for “{run.name}”.")
        else:
            raise ServiceError("unknown action")
    except ServiceError as err:
        messages.error(request, err.message)
    return _back(request, reverse("hub:project", kwargs={"slug": access.project.slug}))


def _back(request: HttpRequest, default: str) -> HttpResponse:
    """Redirect to the page the form came from if it is ours, else to `default`."""
    from django.utils.http import url_has_allowed_host_and_scheme

    target = request.POST.get("next") or ""
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return HttpResponseRedirect(target)
    return HttpResponseRedirect(default)


@require_http_methods(["GET", "POST"])
@project_view
def members_page(request: HttpRequest, access: ProjectAccess) -> HttpResponse:
    project = access.project
    here = reverse("hub:members", kwargs={"slug": project.slug})
    form = MemberAddForm()
    if request.method == "POST":
        op = request.POST.get("op")
        username = request.POST.get("username", "")
        me = access.user.get_username() if access.user is not None else ""
        leaving = op == "remove" and username == me
        if not leaving:
            denied = _require(request, access, "member.manage")
            if denied:
                return denied
        try:
            if op == "add":
                form = MemberAddForm(request.POST)
                if form.is_valid():
                    services.member_add(
                        project=project,
                        actor=access.user,
                        username=form.cleaned_data["username"],
                        role=form.cleaned_data["role"],
                        via=_via(request),
                    )
                    messages.success(request, f"{form.cleaned_data['username']} added.")
                    return redirect(here)
            elif op == "role":
                membership = selectors.membership_get(project=project, username=username)
                services.member_update(
                    membership=membership,
                    actor=access.user,
                    role=request.POST.get("role"),
                    via=_via(request),
                )
                messages.success(request, f"{username} is now {membership.role}.")
                return redirect(here)
            elif op == "remove":
                membership = selectors.membership_get(project=project, username=username)
                services.member_remove(membership=membership, actor=access.user, via=_via(request))
                if leaving:
                    messages.success(request, f"You left “{project.name}”.")
                    return redirect("hub:projects")
                messages.success(request, f"{username} removed.")
                return redirect(here)
            else:
                raise ServiceError("unknown action")
        except NotFound as exc:
            raise Http404("no such member") from exc
        except ServiceError as err:
            messages.error(request, err.message)
            if op != "add":
                return redirect(here)
            form.add_error(None, err.message)
    return render(
        request,
        "hub/members.html",
        _project_context(
            access,
            members=selectors.member_list(project=project),
            form=form,
            roles=Role.choices,
            me=access.user.get_username() if access.user is not None else "",
            tab="members",
        ),
    )


@require_http_methods(["GET", "POST"])
@project_view
def sources_page(request: HttpRequest, access: ProjectAccess) -> HttpResponse:
    project = access.project
    form = SourceForm()
    status = 200
    if request.method == "POST":
        denied = _require(request, access, "source.create")
        if denied:
            return denied
        form = SourceForm(request.POST)
        if form.is_valid():
            url, options, credentials = form.source_parts()
            try:
                source = services.source_create(
                    project=project,
                    user=access.user,
                    url=url,
                    options=options,
                    credentials=credentials,
                    via=_via(request),
                )
            except (PolicyError, ServiceError) as err:
                form = form.without_secrets()
                form.add_error(None, err.message)
                status = 400
            else:
                messages.success(
                    request, f"Source {source.url} added; the first listing starts now."
                )
                return redirect("hub:sources", slug=project.slug)
        else:
            form = form.without_secrets()
            status = 400
    return render(
        request,
        "hub/sources.html",
        _project_context(
            access,
            sources=selectors.source_list(project=project),
            form=form,
            tab="sources",
        ),
        status=status,
    )


def _report_text(report: services.AccessReport) -> str:
    if not report.ok:
        return f"Test access failed: {report.error}"
    sample = ", ".join(report.sample_runs[:5])
    more = "…" if report.runs > 5 else ""
    runs = f" — runs: {sample}{more}" if sample else ""
    return (
        f"Test access OK: {report.runs} run(s), {report.event_files} event file(s), "
        f"{filesizeformat(report.bytes)}{runs}"
    )


@require_POST
@project_view
def source_action(request: HttpRequest, access: ProjectAccess, source_id: int) -> HttpResponse:
    """POST-only actions on one source: test access, list now, delete."""
    project = access.project
    op = request.POST.get("op")
    action = {"test": "source.test", "refresh": "source.refresh", "delete": "source.delete"}.get(
        op or ""
    )
    if action is None:
        messages.error(request, "unknown action")
        return redirect("hub:sources", slug=project.slug)
    denied = _require(request, access, action)
    if denied:
        return denied
    try:
        source = selectors.source_get(project=project, source_id=source_id)
    except NotFound as exc:
        raise Http404("no such source") from exc
    if op == "test":
        report = services.source_test_access(source=source)
        (messages.success if report.ok else messages.error)(request, _report_text(report))
    elif op == "refresh":
        services.source_refresh(source=source)
        messages.success(request, f"Listing {source.url} now.")
    else:
        url = source.url
        services.source_delete(source=source, user=access.user, via=_via(request))
        messages.success(request, f"Source {url} and its stored data were deleted.")
    return redirect("hub:sources", slug=project.slug)


@require_http_methods(["GET", "POST"])
@project_view
def settings_page(request: HttpRequest, access: ProjectAccess) -> HttpResponse:
    project = access.project
    denied = _require(request, access, "project.update")
    if denied:
        return denied
    form = ProjectSettingsForm(initial={"name": project.name, "description": project.description})
    if request.method == "POST":
        if request.POST.get("op") == "delete":
            if request.POST.get("confirm_slug") != project.slug:
                messages.error(request, "Type the project's slug to confirm the deletion.")
                return redirect("hub:settings", slug=project.slug)
            name = project.name
            services.project_delete(project=project, user=access.user, via=_via(request))
            messages.success(request, f"Project “{name}” was deleted.")
            return redirect("hub:projects")
        form = ProjectSettingsForm(request.POST)
        if form.is_valid():
            try:
                services.project_update(
                    project=project,
                    user=access.user,
                    name=form.cleaned_data["name"],
                    description=form.cleaned_data["description"],
                    via=_via(request),
                )
            except ServiceError as err:
                form.add_error(None, err.message)
            else:
                messages.success(request, "Project settings saved.")
                return redirect("hub:settings", slug=project.slug)
    return render(request, "hub/settings.html", _project_context(access, form=form, tab="settings"))


def _audit_page(
    request: HttpRequest, project: Any, template: str, ctx: dict[str, Any]
) -> HttpResponse:
    try:
        before = int(request.GET["before"]) if request.GET.get("before") else None
    except ValueError:
        before = None
    limit = 100
    events = selectors.audit_event_list(project=project, limit=limit, before=before)
    ctx.update(
        events=events,
        next_before=events[-1].pk if len(events) == limit else None,
    )
    return render(request, template, ctx)


@project_view
def project_audit_page(request: HttpRequest, access: ProjectAccess) -> HttpResponse:
    denied = _require(request, access, "audit.read")
    if denied:
        return denied
    return _audit_page(
        request, access.project, "hub/audit.html", _project_context(access, tab="audit")
    )


@team_login_required
def audit_page(request: HttpRequest) -> HttpResponse:
    user = request_user(request)
    if not is_admin(user):
        return forbidden(request, "Only administrators can read the whole audit log.")
    return _audit_page(request, None, "hub/audit.html", {"global_audit": True})


# ---- tokens --------------------------------------------------------------------------------


@team_login_required
@require_http_methods(["GET", "POST"])
def tokens_page(request: HttpRequest) -> HttpResponse:
    if is_embedded():
        return redirect("hub:home")
    user = request_user(request)
    everyone = is_admin(user) and request.GET.get("all") == "1"
    form = TokenForm()
    created: tuple[Any, str] | None = None
    status = 200
    if request.method == "POST":
        op = request.POST.get("op")
        if op == "revoke":
            try:
                token = selectors.token_get(user=user, token_id=int(request.POST.get("id") or 0))
            except (NotFound, ValueError) as exc:
                raise Http404("no such token") from exc
            services.token_revoke(token=token, actor=user, via=_via(request))
            messages.success(request, f"Token “{token.name}” revoked.")
            return _back(request, reverse("hub:tokens"))
        form = TokenForm(request.POST)
        if form.is_valid():
            try:
                created = services.token_create(
                    user=user,
                    name=form.cleaned_data["name"] or "",
                    read_only=bool(form.cleaned_data["read_only"]),
                    expires_days=form.cleaned_data["expires_days"],
                    via=_via(request),
                )
            except ServiceError as err:
                form.add_error(None, err.message)
                status = 400
            else:
                form = TokenForm()
        else:
            status = 400
    tokens = selectors.token_list(user=None if everyone else user)
    response = render(
        request,
        "hub/tokens.html",
        {
            "form": form,
            "tokens": tokens,
            "everyone": everyone,
            "created_token": created[0] if created else None,
            "created_secret": created[1] if created else "",
        },
        status=status,
    )
    if created:
        # The page holds a secret shown once: never cache it anywhere.
        response["Cache-Control"] = "no-store"
    return response


# ---- retention and storage (issue #5, docs/RETENTION.md) --------------------------------------

BIGGEST_RUNS = 20


def _policy_form(
    request: HttpRequest, project: Project | None, data: Any = None
) -> RetentionPolicyForm:
    glob = retention.policy_global()
    if project is None:
        values = retention.policy_values(glob)
        inherited = None
    else:
        own = retention.policy_overrides(project_ids=[project.pk]).get(project.pk)
        values = retention.policy_values(own)
        inherited = retention.policy_values(glob)
    initial: dict[str, Any] = dict(values)
    if initial.get("max_bytes") is not None:
        initial["max_bytes"] = str(initial["max_bytes"])
    return RetentionPolicyForm(
        data, initial=initial, project=project is not None, inherited=inherited
    )


def _policy_save(
    request: HttpRequest, form: RetentionPolicyForm, project: Project | None, user: Any
) -> bool:
    if not form.is_valid():
        return False
    try:
        services.retention_policy_update(
            project=project, user=user, values=form.policy_values(), via=_via(request)
        )
    except ServiceError as err:
        form.add_error(err.field if err.field in form.fields else None, err.message)
        return False
    return True


@require_http_methods(["GET", "POST"])
@project_view
def storage_page(request: HttpRequest, access: ProjectAccess) -> HttpResponse:
    """Stored bytes by kind, the biggest runs and the effective retention policy (members);
    administrators also edit the project's override and see the dry run."""
    project = access.project
    admin = access.can("retention.manage")
    form = _policy_form(request, project) if admin else None
    status = 200
    if request.method == "POST":
        denied = _require(request, access, "retention.manage")
        if denied:
            return denied
        form = _policy_form(request, project, request.POST)
        if _policy_save(request, form, project, access.user):
            messages.success(request, "Retention policy saved. The dry run below shows its effect.")
            return redirect(reverse("hub:storage", kwargs={"slug": project.slug}) + "?preview=1")
        status = 400
    storage = retention.project_storage(project_id=project.pk)
    biggest = retention.runs_biggest(project_id=project.pk, limit=BIGGEST_RUNS)
    plan = None
    if admin and request.GET.get("preview"):
        plan = retention.project_plan(
            project_id=project.pk, max_chunks=retention.PREVIEW_MAX_CHUNKS
        )
    return render(
        request,
        "hub/storage.html",
        _project_context(
            access,
            storage=storage,
            kinds=[(k, storage["by_kind"][k]) for k in retention.STORAGE_KINDS],
            biggest=biggest,
            labels=retention.POLICY_LABELS,
            form=form,
            plan=plan.as_dict() if plan is not None else None,
            tab="storage",
        ),
        status=status,
    )


@require_http_methods(["GET", "POST"])
@project_view
def run_data_page(request: HttpRequest, access: ProjectAccess, run_id: int) -> HttpResponse:
    """An owner deletes a run's stored data (GET asks for confirmation) or asks for a
    re-ingest (which also brings deleted data back)."""
    project = access.project
    try:
        run = selectors.run_get(project=project, run_id=run_id)
    except NotFound as exc:
        raise Http404("no such run") from exc
    back = reverse("hub:project", kwargs={"slug": project.slug})
    if request.method == "POST":
        op = request.POST.get("op")
        if op == "delete":
            denied = _require(request, access, "run.delete_data")
            if denied:
                return denied
            try:
                freed = services.run_data_delete(
                    run=run,
                    user=access.user,
                    project=project,
                    confirm=request.POST.get("confirm"),
                    via=_via(request),
                )
            except ServiceError as err:
                messages.error(request, err.message)
                return redirect("hub:run-data", slug=project.slug, run_id=run.pk)
            messages.success(
                request,
                f"The stored data of “{run.name}” was deleted ({filesizeformat(freed)} freed). "
                "Its files are not read again unless you re-ingest it.",
            )
            return _back(request, back)
        if op == "reingest":
            denied = _require(request, access, "run.reingest")
            if denied:
                return denied
            services.run_reingest_request(
                run=run, user=access.user, project=project, via=_via(request)
            )
            messages.success(request, f"“{run.name}” is read again from byte 0.")
            return _back(request, back)
        messages.error(request, "unknown action")
        return redirect(back)
    denied = _require(request, access, "run.delete_data")
    if denied:
        return denied
    status = selectors.run_status_list(project=project, run_ids=[run.pk])[0]
    kinds = retention.run_tag_counts(run_id=run.pk)
    return render(
        request,
        "hub/run_data.html",
        _project_context(access, run=run, status=status, tag_kinds=kinds, tab="runs"),
    )


@team_login_required
@require_http_methods(["GET", "POST"])
def retention_page(request: HttpRequest) -> HttpResponse:
    """Administrators: the global default policy, and every project's storage and policy."""
    user = request_user(request)
    if not is_embedded() and not is_admin(user):
        return forbidden(request, "Only administrators manage retention.")
    form = _policy_form(request, None)
    status = 200
    if request.method == "POST":
        form = _policy_form(request, None, request.POST)
        if _policy_save(request, form, None, user):
            messages.success(request, "Global retention policy saved.")
            return redirect("hub:retention")
        status = 400
    projects = list(selectors.projects_visible(user=user).order_by("slug"))
    ids = [p.pk for p in projects]
    storage = retention.storage_by_project(project_ids=ids)
    policies = retention.policies_effective(project_ids=ids)
    overrides = retention.policy_overrides(project_ids=ids)
    rows: list[dict[str, Any]] = [
        {
            "project": p,
            "storage": storage[p.pk],
            "policy": policies[p.pk].as_dict(),
            "override": p.pk in overrides,
            "over_cap": policies[p.pk].max_bytes is not None
            and storage[p.pk]["total"] > (policies[p.pk].max_bytes or 0),
        }
        for p in projects
    ]
    return render(
        request,
        "hub/retention.html",
        {
            "form": form,
            "rows": rows,
            "kinds": retention.STORAGE_KINDS,
            "total": sum(r["storage"]["total"] for r in rows),
            "grace_hours": retention.cap_grace().total_seconds() / 3600,
        },
        status=status,
    )
