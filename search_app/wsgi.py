"""app = create_app(), for a WSGI server: gunicorn search_app.wsgi:app."""

from search_app import create_app

app = create_app()
