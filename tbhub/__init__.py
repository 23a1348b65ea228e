"""tbhub: a team-wide, self-hosted TensorBoard hub (project configuration package)."""

__version__ = "0.1.0"
