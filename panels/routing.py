"""Websocket routes, served by Channels next to Django's HTTP app (tbhub/asgi.py)."""

from channels.routing import URLRouter
from django.urls import path

from panels.consumers import ProjectConsumer

websocket_application = URLRouter([path("ws/projects/<slug:slug>", ProjectConsumer.as_asgi())])
