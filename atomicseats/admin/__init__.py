"""Pages for admins: site analytics with charts, and user role management."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import or_, select

from atomicseats.accounts import users
from atomicseats.admin.forms import RoleForm, UserSearchForm
from atomicseats.auth import role_required
from atomicseats.booking import reports
from atomicseats.exceptions import Invalid, NotFound
from atomicseats.extensions import db
from atomicseats.models import User

bp = Blueprint("admin", __name__)
USERS_PAGE = 100


@bp.get("/")
@role_required("admin")
def dashboard():
    return render_template("admin/dashboard.html", data=reports.site_analytics())


@bp.get("/users")
@role_required("admin")
def user_list():
    search = UserSearchForm(request.args)
    query = select(User).order_by(User.created_at.desc(), User.id.desc()).limit(USERS_PAGE)
    if search.validate() and search.q.data:
        escaped = search.q.data.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        query = query.where(or_(User.email.ilike(f"%{escaped}%"), User.name.ilike(f"%{escaped}%")))
    people = list(db.session.scalars(query))
    forms = {u.id: RoleForm(prefix=f"u{u.id}", role=u.role) for u in people}
    return render_template("admin/users.html", people=people, forms=forms, search=search)


@bp.post("/users/<int:user_id>/role")
@role_required("admin")
def set_role(user_id: int):
    form = RoleForm(prefix=f"u{user_id}")
    if not form.validate_on_submit():
        flash("Choose one of the roles.", "error")
        return redirect(url_for("admin.user_list"))
    if user_id == current_user.id:
        flash("You cannot change your own role: ask another admin.", "error")
        return redirect(url_for("admin.user_list"))
    try:
        user = users.set_role(user_id, form.role.data)
    except NotFound:
        abort(404, description="No such user.")
    except Invalid as exc:
        flash(exc.message, "error")
    else:
        flash(f"{user.name} ({user.email}) is now {user.role}.", "success")
    return redirect(url_for("admin.user_list", q=request.args.get("q") or None))


from atomicseats.admin import dead_letters  # noqa: E402,F401
