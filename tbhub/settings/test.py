"""Test settings: team mode against the real PostgreSQL and Redis, with a fast password hasher."""

from tbhub.settings.team import *

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
