"""Admin pages for dead letters: the filtered, paged list, one letter's payload and error, and replay.

Reading and replaying go through ``pipeline/dead_letters.py``, as the API does, so a replay from either is
the same conditional UPDATE and enqueues each job once.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from atomicseats.admin import bp
from atomicseats.admin.forms import DeadLetterFilterForm, ReplayForm
from atomicseats.api.common import decode_cursor, encode_cursor
from atomicseats.auth import role_required
from atomicseats.exceptions import Invalid, NotFound
from atomicseats.pipeline import dead_letters

DEAD_LETTERS_PAGE = 50
FILTER_ARGS = ("kind", "event", "since", "until", "state")
_REPLAYED = {"open": False, "replayed": True, "all": None}


def _filters(form: DeadLetterFilterForm) -> dead_letters.Filters:
    """The form's choices as the service's filters; dates are whole UTC days, ``until`` included."""
    since, until = form.since.data, form.until.data
    return dead_letters.Filters(
        kind=form.kind.data or None,
        event_id=form.event.data,
        since=datetime.combine(since, time.min, tzinfo=UTC) if since else None,
        until=datetime.combine(until + timedelta(days=1), time.min, tzinfo=UTC) if until else None,
        replayed=_REPLAYED[form.state.data],
    )


def _filter_args() -> dict[str, Any]:
    """The list's filters as they came, to carry through paging and back after a replay."""
    return {k: v for k, v in request.args.items() if k in FILTER_ARGS and v}


@bp.get("/dead-letters")
@role_required("admin")
def dead_letter_list():
    search = DeadLetterFilterForm(request.args)
    if not search.validate():
        page = render_template(
            "admin/dead_letters.html", search=search, letters=[], first_page=True, replay=ReplayForm(), args={}
        )
        return page, 400
    raw = request.args.get("cursor")
    try:
        letters, next_position = dead_letters.page(
            _filters(search), DEAD_LETTERS_PAGE, decode_cursor(raw) if raw else None
        )
    except Invalid:
        abort(400, description="This page link is not one the site gave out.")
    return render_template(
        "admin/dead_letters.html",
        search=search,
        letters=letters,
        older=encode_cursor(next_position) if next_position else None,
        first_page=raw is None,
        replay=ReplayForm(),
        args=_filter_args(),
    )


@bp.get("/dead-letters/<int:letter_id>")
@role_required("admin")
def dead_letter_detail(letter_id: int):
    try:
        letter = dead_letters.get(letter_id)
    except NotFound:
        abort(404, description="No such dead letter.")
    return render_template("admin/dead_letter.html", letter=letter, replay=ReplayForm(letters=[letter_id]))


@bp.post("/dead-letters/replay")
@role_required("admin")
def replay_dead_letters():
    """Replay the ticked letters; each is replayed once however often (or by how many admins) it is asked."""
    form = ReplayForm()
    back = url_for("admin.dead_letter_list", **_filter_args())
    if not form.validate_on_submit():
        flash(" ".join(e for errors in form.errors.values() for e in errors), "error")
        return redirect(back)
    result = dead_letters.replay(form.letters.data, current_user.id)
    if result.done:
        flash(f"Replayed {_ids(result.done)}.", "success")
    if result.already:
        flash(f"Already replayed, so not again: {_ids(result.already)}.", "error")
    if result.missing:
        flash(f"No such dead letter: {_ids(result.missing)}.", "error")
    return redirect(back)


def _ids(letter_ids: list[int]) -> str:
    return ", ".join(f"#{i}" for i in letter_ids)
