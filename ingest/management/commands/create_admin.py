"""`tbhub manage create_admin`: create (or promote) an administrator without prompts. Idempotent.

    tbhub manage create_admin --username U [--email E] [--password-stdin] [--reset-password]

The password comes from the first line of standard input (`--password-stdin`) or from the
environment variable `TBHUB_ADMIN_PASSWORD`, never from the command line (it would show in `ps`).
An existing user is made an active superuser and keeps their password unless `--reset-password`.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

PASSWORD_ENV = "TBHUB_ADMIN_PASSWORD"  # noqa: S105 - the variable's name, not a password


class Command(BaseCommand):
    help = "Create or promote an administrator non-interactively (idempotent)."
    stealth_options = ("stdin",)

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--username", required=True)
        parser.add_argument("--email", default=None)
        parser.add_argument(
            "--password-stdin", action="store_true", help="read the password from standard input"
        )
        parser.add_argument(
            "--reset-password",
            action="store_true",
            help="also set the password of an existing user",
        )

    def _password(self, options: dict[str, Any]) -> str | None:
        if options["password_stdin"]:
            stdin = options.get("stdin") or sys.stdin
            password = stdin.readline().rstrip("\r\n")
            if not password:
                raise CommandError("--password-stdin: standard input held no password")
            return str(password)
        return os.environ.get(PASSWORD_ENV) or None

    def handle(self, *args: Any, **options: Any) -> None:
        model = get_user_model()
        username = options["username"].strip()
        if not username:
            raise CommandError("--username must not be empty")
        password = self._password(options)
        with transaction.atomic():
            user = (
                model._default_manager.select_for_update()
                .filter(**{model.USERNAME_FIELD: username})
                .first()
            )
            created = user is None
            if created and password is None:
                raise CommandError(
                    f"no password for the new admin {username}: pass --password-stdin or set "
                    f"{PASSWORD_ENV}"
                )
            if created:
                user = model(**{model.USERNAME_FIELD: username})
            assert user is not None
            changed: list[str] = []
            if options["email"] is not None and getattr(user, "email", None) != options["email"]:
                user.email = options["email"]
                changed.append("email")
            for flag in ("is_active", "is_staff", "is_superuser"):
                if not getattr(user, flag):
                    setattr(user, flag, True)
                    changed.append(flag)
            if password is not None and (created or options["reset_password"]):
                try:
                    validate_password(password, user)
                except ValidationError as exc:
                    raise CommandError("password rejected: " + " ".join(exc.messages)) from None
                user.set_password(password)
                changed.append("password")
            if created or changed:
                user.save()
        if created:
            self.stdout.write(f"created admin {username}")
        elif changed:
            self.stdout.write(f"updated admin {username}: {', '.join(changed)}")
        else:
            self.stdout.write(f"admin {username} already exists (unchanged)")
