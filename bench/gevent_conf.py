"""gunicorn settings for measuring the web process under gevent (``bench/holds.py --server gevent``).

psycopg2 blocks the whole gevent loop unless psycogreen makes it cooperative.
"""


def post_fork(server, worker):
    from psycogreen.gevent import patch_psycopg

    patch_psycopg()
