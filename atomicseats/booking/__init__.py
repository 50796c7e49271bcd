"""The booking engine: plain Python services that views, the API, workers and CLI commands call.

Nothing here reads a Flask request. Each service function owns its transaction (it commits or rolls
back before returning) because the Redis gate and the live updates must happen around that commit.
"""
