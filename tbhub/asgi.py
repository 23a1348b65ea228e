"""ASGI entry point: HTTP through Django, websockets through Channels (panels.routing)."""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tbhub.settings")
os.environ.setdefault("GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT", "false")

from django.core.asgi import get_asgi_application

django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from panels.routing import websocket_application  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        # Session authentication, and no cross-site websocket hijacking: the Origin must be ours.
        "websocket": AllowedHostsOriginValidator(AuthMiddlewareStack(websocket_application)),
    }
)
