"""WSGI entry point: ``gunicorn wsgi:app`` and ``flask --app wsgi ...``.

Everything built at start-up (the app, SQLAlchemy's mappers, pydantic's models, imported modules: about 160,000
objects) lives as long as the process, yet every full collection of Python's garbage collector walks all of it
while no thread of the web worker runs. Measured in the worker under the hold benchmark, those pauses took
30-113 ms; with the start-up objects frozen out of the collector's reach they take 3-12 ms.
"""

import gc

from atomicseats import create_app

app = create_app()
gc.freeze()
