"""WSGI entry point: ``gunicorn wsgi:app`` and ``flask --app wsgi ...``."""

from atomicseats import create_app

app = create_app()
