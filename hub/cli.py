"""`tbhub token …`: personal access tokens from a shell on the server (team mode).

    tbhub token create --user U [--name N] [--read-only] [--expires-days D]
    tbhub token list [--user U]
    tbhub token revoke ID

`create` prints the token as the last word of its last line on stdout (so
`TOKEN=$(tbhub token create --user alice | tail -1 | awk '{print $NF}')` works); everything else
goes to stderr. The token is shown once: only its hash is stored.
"""

from __future__ import annotations

import argparse
import os
import sys


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="tbhub token", description="Personal access tokens.")
    sub = p.add_subparsers(dest="action", required=True)
    c = sub.add_parser("create", help="create a token for a user and print it")
    c.add_argument("--user", required=True, help="username")
    c.add_argument("--name", default="cli", help="what the token is for (default: cli)")
    c.add_argument("--read-only", action="store_true", help="the token can never write")
    c.add_argument(
        "--expires-days", type=int, default=None, help="expire after D days (default: never)"
    )
    ls = sub.add_parser("list", help="list tokens (never the tokens themselves)")
    ls.add_argument("--user", default=None, help="only this user's tokens")
    r = sub.add_parser("revoke", help="revoke a token by id")
    r.add_argument("id", type=int)
    return p


def token_main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tbhub.settings")
    import django

    django.setup()
    from django.contrib.auth import get_user_model

    from hub import selectors, services
    from hub.errors import ServiceError
    from hub.models import AccessToken

    user_model = get_user_model()
    if args.action == "create":
        user = user_model.objects.filter(username=args.user).first()
        if user is None:
            sys.stderr.write(f"tbhub token: no user '{args.user}'\n")
            return 1
        try:
            token, raw = services.token_create(
                user=user,
                name=args.name,
                read_only=args.read_only,
                expires_days=args.expires_days,
                via="cli",
            )
        except ServiceError as err:
            sys.stderr.write(f"tbhub token: {err.message}\n")
            return 1
        access = "read-only" if token.read_only else "read-write"
        expiry = f"expires {token.expires_at:%Y-%m-%d}" if token.expires_at else "never expires"
        sys.stderr.write(
            f"created {access} token {token.pk} '{token.name}' for {user.get_username()} "
            f"({expiry}); it is shown once:\n"
        )
        sys.stdout.write(f"token: {raw}\n")
        sys.stdout.flush()
        return 0
    if args.action == "list":
        user = None
        if args.user:
            user = user_model.objects.filter(username=args.user).first()
            if user is None:
                sys.stderr.write(f"tbhub token: no user '{args.user}'\n")
                return 1
        for t in selectors.token_list(user=user):
            last = f"{t.last_used_at:%Y-%m-%d %H:%M}" if t.last_used_at else "never"
            sys.stdout.write(
                f"{t.pk}\t{t.user.get_username()}\t{t.name}\t"
                f"{'read-only' if t.read_only else 'read-write'}\t{t.status}\tlast used {last}\n"
            )
        return 0
    found = AccessToken.objects.select_related("user").filter(pk=args.id).first()
    if found is None:
        sys.stderr.write(f"tbhub token: no token {args.id}\n")
        return 1
    services.token_revoke(token=found, actor=None, via="cli")
    sys.stderr.write(f"revoked token {found.pk} '{found.name}' of {found.user.get_username()}\n")
    return 0
