"""Websocket routes, served by Channels next to Django's HTTP app (tbhub/asgi.py)."""

from channels.routing import URLRouter
from django.urls import path

from panels.consumers import ComparisonConsumer, ProjectConsumer

websocket_application = URLRouter(
    [
        path("ws/projects/<slug:slug>", ProjectConsumer.as_asgi()),
        # Comparisons (issue #5): through a share link, or the owner's own page.
        path("ws/shared/<slug:token>", ComparisonConsumer.as_asgi()),
        path("ws/comparisons/<slug:key>", ComparisonConsumer.as_asgi()),
    ]
)
