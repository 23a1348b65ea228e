"""Single sign-on with OpenID Connect (optional; team mode). Documented in README.md#sso.

Enabled by `TBHUB_OIDC_CLIENT_ID` (see tbhub/settings/team.py for every variable). Users are keyed
by username, like local accounts: the username is the `TBHUB_OIDC_USERNAME_CLAIM` claim
(default `preferred_username`), so an identity provider user `alice` signs in as tbhub's `alice`
(created on first sign-in unless `TBHUB_OIDC_CREATE_USERS=false`). The provider must therefore be
authoritative for that claim: use one users cannot choose for themselves. When the claim is
`email`, the provider must also say `email_verified: true`. Accounts created by SSO have no
password; administrators still manage roles in projects and the admin flag.
"""

from __future__ import annotations

import re
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import QuerySet
from mozilla_django_oidc.auth import OIDCAuthenticationBackend

_NOT_USERNAME = re.compile(r"[^\w.@+-]")


def username_from_claims(claims: dict[str, Any]) -> str:
    """The tbhub username for these claims, or "" when the claim is missing or unusable."""
    claim = getattr(settings, "TBHUB_OIDC_USERNAME_CLAIM", "preferred_username")
    value = claims.get(claim)
    if not isinstance(value, str):
        return ""
    if claim == "email" and claims.get("email_verified") is not True:
        return ""
    name = _NOT_USERNAME.sub("", value.strip())[:150]
    return name


class HubOIDCBackend(OIDCAuthenticationBackend):
    def verify_claims(self, claims: dict[str, Any]) -> bool:
        return bool(username_from_claims(claims))

    def filter_users_by_claims(self, claims: dict[str, Any]) -> QuerySet[Any]:
        username = username_from_claims(claims)
        model = get_user_model()
        if not username:
            return model.objects.none()
        return model.objects.filter(username=username, is_active=True)

    def create_user(self, claims: dict[str, Any]) -> Any:
        model = get_user_model()
        user = model.objects.create_user(
            username_from_claims(claims),
            email=str(claims.get("email") or ""),
            first_name=str(claims.get("given_name") or "")[:150],
            last_name=str(claims.get("family_name") or "")[:150],
        )
        user.set_unusable_password()
        user.save(update_fields=["password"])
        return user

    def update_user(self, user: Any, claims: dict[str, Any]) -> Any:
        changed = []
        for field, claim in (
            ("email", "email"),
            ("first_name", "given_name"),
            ("last_name", "family_name"),
        ):
            value = claims.get(claim)
            if isinstance(value, str) and value and getattr(user, field) != value[:150]:
                setattr(user, field, value[:150])
                changed.append(field)
        if changed:
            user.save(update_fields=changed)
        return user
