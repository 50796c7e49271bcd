"""The JSON API (``/api/v1``): thin routes over the account services and the booking engine."""

from flask import Blueprint

bp = Blueprint("api", __name__)

from atomicseats.api import accounts, bookings, events, holds, openapi, queue, reports, waitlist  # noqa: E402,F401
from atomicseats.api.common import reject_unstorable_args  # noqa: E402

bp.before_request(reject_unstorable_args)
