"""WSGI entry point: `gunicorn --preload wsgi:app`, `flask --app wsgi run`."""
import label_studio_sdk.label_interface  # noqa: F401  (heavy; import once at start, not on a request)

from app import create_app

app = create_app()
