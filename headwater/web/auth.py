"""Who may talk to the console: requests from this machine's browser, with the token.

- The token printed at start (``?token=...``) is exchanged for an HttpOnly, SameSite=Strict
  cookie, then dropped from the URL; every request needs the cookie (or an
  ``Authorization: Bearer`` header, for a Prometheus scraper).
- A request that changes something (any method but GET and HEAD) also needs the CSRF header
  with the page's CSRF token: another site can neither read it nor send a custom header
  without a CORS preflight, which the console never grants.
- The Host header must name the address the console listens on (DNS rebinding: a foreign
  name that resolves to 127.0.0.1 is refused), and an Origin header, when sent, too.
"""

from __future__ import annotations

import hmac
import ipaddress
import secrets
import socket
from collections.abc import Awaitable, Callable, MutableMapping
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import parse_qsl, urlencode

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

CSRF_HEADER = "x-headwater-csrf"
SAFE_METHODS = frozenset({"GET", "HEAD"})


def new_token() -> str:
    return secrets.token_urlsafe(24)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def allowed_hosts(host: str, port: int) -> frozenset[str]:
    """The Host header values that name this console: the address it listens on, and the
    loopback names (a wildcard address adds this machine's own names)."""
    names = {f"[{host}]" if ":" in host else host, "127.0.0.1", "localhost", "[::1]"}
    if host in ("0.0.0.0", "::"):
        names |= {socket.gethostname(), socket.getfqdn()}
    return frozenset(f"{n}:{port}" for n in names)


class Guard:
    """ASGI middleware: refuses what ``auth`` says, before any route runs."""

    def __init__(self, app: ASGIApp, *, token: str, csrf: str, hosts: frozenset[str], cookie: str) -> None:
        self.app, self.token, self.csrf, self.hosts, self.cookie = app, token, csrf, hosts, cookie

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        host = headers.get("host", "")
        if host not in self.hosts:
            await _refuse(send, 421, f"refused: Host {host!r} is not this console (DNS rebinding?)")
            return
        origin = headers.get("origin")
        if origin is not None and origin.split("://", 1)[-1] not in self.hosts:
            await _refuse(send, 403, f"refused: a request from {origin} (another site)")
            return
        query = parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
        given = dict(query).get("token")
        if given is not None and scope["method"] in SAFE_METHODS:
            if not hmac.compare_digest(given, self.token):
                await _refuse(send, 401, "refused: wrong token: open the URL `headwater ui` printed")
                return
            rest = urlencode([(k, v) for k, v in query if k != "token"])
            location = scope["path"] + (f"?{rest}" if rest else "")
            await send(
                {
                    "type": "http.response.start",
                    "status": 303,
                    "headers": [
                        (b"location", location.encode("latin-1")),
                        (
                            b"set-cookie",
                            f"{self.cookie}={self.token}; HttpOnly; SameSite=Strict; Path=/".encode(),
                        ),
                        (b"cache-control", b"no-store"),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": b""})
            return
        if not self._authenticated(headers):
            await _refuse(send, 401, "refused: no token: open the URL `headwater ui` printed")
            return
        if scope["method"] not in SAFE_METHODS and not hmac.compare_digest(
            headers.get(CSRF_HEADER, ""), self.csrf
        ):
            await _refuse(
                send, 403, f"refused: a change needs the {CSRF_HEADER} header of the console's pages"
            )
            return
        await self.app(scope, receive, send)

    def _authenticated(self, headers: dict[str, str]) -> bool:
        bearer = headers.get("authorization", "")
        if bearer.startswith("Bearer ") and hmac.compare_digest(bearer[7:].strip(), self.token):
            return True
        jar: SimpleCookie = SimpleCookie()
        try:
            jar.load(headers.get("cookie", ""))
        except Exception:
            return False
        morsel = jar.get(self.cookie)
        return morsel is not None and hmac.compare_digest(morsel.value, self.token)


async def _refuse(send: Send, status: int, text: str) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"text/plain; charset=utf-8"), (b"cache-control", b"no-store")],
        }
    )
    await send({"type": "http.response.body", "body": text.encode() + b"\n"})
