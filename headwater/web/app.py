"""The console's Starlette application and its server (``headwater ui``)."""

from __future__ import annotations

import secrets
import socket
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from headwater.api import Project
from headwater.errors import UserError
from headwater.web.auth import Guard, allowed_hosts, is_loopback, new_token
from headwater.web.highlight import highlight_sql

HERE = Path(__file__).parent
T = TypeVar("T")


class Console:
    """What the routes share: the project, one lock (a request at a time opens the lake, each
    briefly), the templates, and whether the worksheet may write."""

    def __init__(self, project: Project, *, allow_writes: bool, csrf: str) -> None:
        self.project = project
        self.allow_writes = allow_writes
        self.csrf = csrf
        self._lock = threading.Lock()
        self.templates = Jinja2Templates(directory=str(HERE / "templates"))
        self.templates.env.filters["sql"] = highlight_sql
        self.templates.env.globals.update(
            csrf=csrf, project_name=project.path.name, allow_writes=allow_writes
        )

    async def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        def locked() -> T:
            with self._lock:
                return fn(*args, **kwargs)

        return await run_in_threadpool(locked)


def create_app(
    project: Project, *, token: str, host: str = "127.0.0.1", port: int = 8765, allow_writes: bool = False
) -> Guard:
    """The console, behind its guard (``auth``)."""
    from headwater.web.routes import routes

    csrf = secrets.token_urlsafe(24)
    console = Console(project, allow_writes=allow_writes, csrf=csrf)
    app = Starlette(
        routes=[
            *routes(console),
            Mount("/static", StaticFiles(directory=str(HERE / "static")), name="static"),
        ]
    )
    return Guard(app, token=token, csrf=csrf, hosts=allowed_hosts(host, port), cookie=f"headwater_{port}")


def check_bind(host: str, allow_remote: bool) -> None:
    if not is_loopback(host) and not allow_remote:
        raise UserError(
            f"refusing to listen on {host}: other machines could reach the console",
            hint="listen on 127.0.0.1 (the default), or pass --allow-remote if you mean it",
        )


def check_port(host: str, port: int) -> None:
    """A clear error for a port that is taken (uvicorn would only log it)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as e:
            raise UserError(
                f"cannot listen on {host}:{port}: {e.strerror}",
                hint="another program uses that port: pick another with --port",
            ) from None


def serve(
    project: Project,
    *,
    host: str,
    port: int,
    allow_remote: bool,
    allow_writes: bool,
    token: str | None = None,
    announce: Callable[[str], None] = print,
) -> None:
    """Serve until interrupted; ``announce`` gets the URL with the token."""
    import uvicorn

    check_bind(host, allow_remote)
    check_port(host, port)
    token = token or new_token()
    app = create_app(project, token=token, host=host, port=port, allow_writes=allow_writes)
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False, lifespan="off")
    server = uvicorn.Server(config)
    shown = f"[{host}]" if ":" in host else host
    announce(f"http://{shown}:{port}/?token={token}")
    server.run()
