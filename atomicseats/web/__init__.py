"""Pages for visitors and attendees."""

from flask import Blueprint, current_app, has_request_context
from flask_login import current_user

from atomicseats import realtime

bp = Blueprint("web", __name__)


@bp.app_context_processor
def realtime_connection() -> dict[str, str]:
    """Where a page's Socket.IO client connects, and a token naming its signed-in user there.

    The realtime process is another process (often another origin) and reads no session cookie: the token is
    how a browser gets its own holds' and bookings' messages.
    """
    token = ""
    if has_request_context() and current_user.is_authenticated:  # emails are rendered outside a request
        token = realtime.make_token(current_app.config["SECRET_KEY"], current_user.id)
    return {"realtime_url": current_app.config["REALTIME_URL"], "realtime_token": token}


from atomicseats.web import accounts, pages, queue, shop, waitlist  # noqa: E402,F401
