"""Pages for visitors and attendees."""

from flask import Blueprint

bp = Blueprint("web", __name__)

from atomicseats.web import accounts, pages, queue, shop  # noqa: E402,F401
