"""The Flask application: the only package that knows HTTP, HTML, sessions and the terminal."""
from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from flask import Flask

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    """Build the app: config, extensions, blueprints, error handlers and CLI commands."""
    app = Flask(
        __name__,
        instance_path=os.environ.get("FAIRLABEL_INSTANCE_PATH") or os.path.join(ROOT, "instance"),
        instance_relative_config=True,
        static_folder=os.path.join(ROOT, "static"),
        template_folder="web/templates",
    )
    app.config.from_object("app.config")
    if test_config is None:
        app.config.from_pyfile("config.py", silent=True)
        app.config.from_prefixed_env("FLASK")
    else:
        # Tests and benchmarks say everything they need: the machine's instance/config.py (which
        # `make demo` writes, with a payout worker thread) and FLASK_* variables stay out.
        app.config.update(test_config)

    from app import config

    config.resolve_paths(app)
    config.validate_config(app)

    from app import inputs
    from app.extensions import csrf, db, limiter, login_manager, migrate

    app.json = inputs.BoundedJSONProvider(app)
    inputs.register(app)  # the bounded <int:> converter, before any route is added
    if app.config["TRUSTED_PROXY_COUNT"]:
        from werkzeug.middleware.proxy_fix import ProxyFix

        hops = app.config["TRUSTED_PROXY_COUNT"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)  # type: ignore[method-assign]

    db.init_app(app)
    migrate.init_app(app, db, directory=os.path.join(ROOT, "migrations"))
    csrf.init_app(app)
    limiter.init_app(app)
    login_manager.init_app(app)
    login_manager.login_view = "web.login"
    login_manager.login_message = "Please log in to continue."

    from app.identity.accounts import configure_password_hashing
    from app.web.auth import load_session_user

    configure_password_hashing(**app.config["PASSWORD_HASH_PARAMS"])
    login_manager.user_loader(load_session_user)

    from app import token_auth

    token_auth.register(app)  # before the routes' own hooks: who is asking comes first

    from app import idempotency

    idempotency.register(app)  # after it: a key belongs to the user sending it

    from app import cli, errors, security
    from app.api import api
    from app.web import web

    app.register_blueprint(web)
    app.register_blueprint(api)
    errors.register(app)
    security.register(app)
    cli.register(app)
    if app.config["RUN_WORKER_IN_PROCESS"]:
        _start_worker_on_first_request(app)
    return app


def _start_worker_on_first_request(app: Flask) -> None:
    """Start the payout worker thread in a process that serves requests — not in every CLI
    command that builds the app."""
    import threading

    lock, started = threading.Lock(), []

    @app.before_request
    def start_worker() -> None:
        if not started:
            with lock:
                if not started:
                    from app.worker import start_in_process_worker

                    started.append(start_in_process_worker(app))
