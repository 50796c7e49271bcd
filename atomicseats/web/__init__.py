"""Pages for visitors and attendees."""

from flask import Blueprint

bp = Blueprint("web", __name__)

from atomicseats.web import accounts, pages, shop  # noqa: E402,F401
