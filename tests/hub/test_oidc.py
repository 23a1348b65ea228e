"""Optional single sign-on (OpenID Connect): configuration by environment, username mapping.

No identity provider is contacted: the sign-in redirect is built locally, and the provider's
endpoints are closed loopback ports.
"""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import override_settings

from tests.conftest import REPO

OIDC = {
    "OIDC_RP_CLIENT_ID": "tbhub-test",
    "OIDC_RP_CLIENT_SECRET": "client-secret",
    "OIDC_OP_TOKEN_ENDPOINT": "http://127.0.0.1:1/token",
    "OIDC_OP_USER_ENDPOINT": "http://127.0.0.1:1/userinfo",
    "OIDC_OP_JWKS_ENDPOINT": "http://127.0.0.1:1/jwks",
    "OIDC_RP_SIGN_ALGO": "RS256",
}


@pytest.fixture
def backend(db: Any) -> Any:
    from hub.oidc import HubOIDCBackend

    with override_settings(**OIDC):
        yield HubOIDCBackend()


def test_username_claim_mapping(backend: Any, settings: Any) -> None:
    from hub.oidc import username_from_claims

    assert username_from_claims({"preferred_username": "alice"}) == "alice"
    assert username_from_claims({"preferred_username": "al ice<script>"}) == "alicescript"
    assert username_from_claims({"email": "a@example.com"}) == ""
    settings.TBHUB_OIDC_USERNAME_CLAIM = "email"
    assert username_from_claims({"email": "a@example.com"}) == ""  # not verified
    assert username_from_claims({"email": "a@example.com", "email_verified": True}) == (
        "a@example.com"
    )


def test_backend_creates_and_matches_users_by_username(backend: Any) -> None:
    claims = {
        "preferred_username": "alice",
        "email": "alice@example.com",
        "given_name": "Alice",
        "family_name": "Liddell",
    }
    assert backend.verify_claims(claims)
    assert not backend.verify_claims({"email": "x@example.com"})
    assert not backend.filter_users_by_claims(claims).exists()
    user = backend.create_user(claims)
    assert (user.username, user.email, user.first_name) == ("alice", "alice@example.com", "Alice")
    assert not user.has_usable_password()
    assert list(backend.filter_users_by_claims(claims)) == [user]
    backend.update_user(user, {**claims, "email": "new@example.com"})
    assert get_user_model().objects.get(pk=user.pk).email == "new@example.com"
    user.is_active = False
    user.save()
    assert not backend.filter_users_by_claims(claims).exists()


@pytest.mark.django_db(transaction=True)
def test_sso_is_configured_by_environment() -> None:
    params = connection.settings_dict
    db_url = f"postgres://{params['USER']}@{params['HOST']}:{params['PORT']}/{params['NAME']}"
    env = {
        **{k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TMPDIR")},
        "DATABASE_URL": db_url,
        "REDIS_URL": os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/9"),
        "TBHUB_SECRET_KEY": "oidc-test",
        "TBHUB_OIDC_CLIENT_ID": "tbhub-test",
        "TBHUB_OIDC_CLIENT_SECRET": "client-secret",
        "TBHUB_OIDC_AUTHORIZATION_ENDPOINT": "http://127.0.0.1:1/authorize",
        "TBHUB_OIDC_TOKEN_ENDPOINT": "http://127.0.0.1:1/token",
        "TBHUB_OIDC_USERINFO_ENDPOINT": "http://127.0.0.1:1/userinfo",
        "TBHUB_OIDC_JWKS_ENDPOINT": "http://127.0.0.1:1/jwks",
        "TBHUB_OIDC_LABEL": "Acme SSO",
    }
    script = (
        "from django.test import Client\n"
        "c = Client(HTTP_HOST='127.0.0.1')\n"
        "page = c.get('/accounts/login/').content.decode()\n"
        "assert 'Sign in with Acme SSO' in page, page\n"
        "assert 'href=\"/oidc/authenticate/' in page\n"
        "r = c.get('/oidc/authenticate/')\n"
        "assert r.status_code == 302, r.status_code\n"
        "loc = r['Location']\n"
        "assert loc.startswith('http://127.0.0.1:1/authorize?'), loc\n"
        "assert 'client_id=tbhub-test' in loc and 'oidc%2Fcallback%2F' in loc, loc\n"
        "print('SSO-OK')\n"
    )
    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", script],
        cwd=str(REPO),
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "SSO-OK" in result.stdout, result.stderr[-2000:]
    del env["TBHUB_OIDC_JWKS_ENDPOINT"]
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=str(REPO),
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert "TBHUB_OIDC_JWKS_ENDPOINT must be set" in result.stderr
