"""Sign in, register, sign out."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_user, logout_user

from atomicseats.accounts import users
from atomicseats.exceptions import Conflict, Invalid
from atomicseats.extensions import limiter
from atomicseats.web import bp
from atomicseats.web.forms import LoginForm, RegisterForm


def _safe_next(default: str) -> str:
    """Only same-site paths: an open redirect after login is a phishing aid."""
    target = request.args.get("next", "")
    parts = urlsplit(target)
    if target.startswith("/") and not target.startswith("//") and not parts.netloc and not parts.scheme:
        return target
    return default


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(lambda: current_app.config["LOGIN_RATE_LIMIT"], methods=["POST"])
def login():
    if current_user.is_authenticated:
        return redirect(url_for("web.index"))
    form = LoginForm()
    if form.validate_on_submit():
        user = users.authenticate(form.email.data, form.password.data)
        if user is not None:
            login_user(user)
            flash(f"Welcome back, {user.name}.", "success")
            return redirect(_safe_next(url_for("web.index")))
        form.password.errors.append("Wrong email or password.")
    return render_template("auth/login.html", form=form)


@bp.route("/register", methods=["GET", "POST"])
@limiter.limit(lambda: current_app.config["LOGIN_RATE_LIMIT"], methods=["POST"])
def register():
    if current_user.is_authenticated:
        return redirect(url_for("web.index"))
    form = RegisterForm()
    if form.validate_on_submit():
        try:
            user = users.sign_up(form.email.data, form.name.data, form.password.data, form.role.data).obj
        except Conflict as exc:
            form.email.errors.append(exc.message)
        except Invalid as exc:
            for name, message in exc.details.get("fields", {}).items():
                getattr(form, name).errors.append(message)
        else:
            login_user(user)
            flash("Your account is ready.", "success")
            return redirect(url_for("web.index"))
    return render_template("auth/register.html", form=form)


@bp.post("/logout")
def logout():
    logout_user()
    flash("You are signed out.", "info")
    return redirect(url_for("web.index"))
