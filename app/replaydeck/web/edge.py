"""What every request passes before any route: a trusted Host, and no cross-origin write.

**Host.** Share URLs and redirects are built from the request's Host header when
`REPLAYDECK_PUBLIC_URL` is unset, and a page on a DNS-rebinding name (one that
resolves to 127.0.0.1) reaches a loopback server with its own name as Host. So
only the server's own names are answered: localhost, 127.0.0.1, ::1, the bind
address, the address the request arrived at (a client that connects to
192.0.2.7 and says so names the server truly), the public URL's host, and
`REPLAYDECK_TRUSTED_HOSTS`. Ports are not compared: a proxy forwarding `Host:
$host` drops it, and no rebinding page can choose another port than the
server's. Starlette's TrustedHostMiddleware checks names the same way, but takes
a fixed list (the arrival address is known per request, and is what lets
in-process clients and by-address access work), answers in plain text, and
would add a frame to every open stream; this is the same check, frame-free.

**Cross-origin writes.** A page on another origin can make the browser send a
POST without asking first (`fetch(url, {mode: "no-cors", method: "POST"})`), and
in open mode nothing else would stop it. Browsers say where such a request
comes from (`Sec-Fetch-Site`, `Origin`); a write (any method but GET, HEAD and
OPTIONS) that comes from another origin is refused unless
`REPLAYDECK_ALLOWED_ORIGINS` lists it, in which case CORS lets its pages call
the API properly. Clients that are not browsers send neither header and pass.
The body routes also refuse any body not declared JSON or NDJSON
(app/replaydeck/ingest/body.py): text, forms and untyped bodies are all that
such a page can send unasked.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Awaitable
from urllib.parse import urlsplit

from starlette.types import ASGIApp, Receive, Scope, Send

from replaydeck.config import Settings
from replaydeck.errors import CrossOriginWrite, ReplaydeckError, UntrustedHost
from replaydeck.share.masking import mask_share_path
from replaydeck.web.problems import domain_problem

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
LOCAL_NAMES = ("localhost", "127.0.0.1", "::1")
# A wildcard bind is no name a client can use; the arrival address stands in for it.
_ANY_ADDRESS = frozenset({"", "0.0.0.0", "::"})
# What an allowed origin's page may send; its browser asks first (a CORS preflight).
# x-api-key: the LangSmith SDK's key header, for LangChain JS tracing from a page.
CORS_HEADERS = [
    "Authorization", "Content-Type", "If-Match", "Last-Event-ID", "X-Request-ID", "traceparent",
    "x-api-key",
]  # fmt: skip


def _name(host: str) -> str | None:
    """The host name of a Host header, lower-cased, without port; None if malformed."""
    if host.startswith("["):
        name, bracket, port = host[1:].partition("]")
        port = port.removeprefix(":") if bracket else "x"
    else:
        name, _, port = host.partition(":")
    if not name or (port and not port.isdigit()):
        return None
    return name.lower()


def _canonical(name: str) -> str:
    try:
        return str(ipaddress.ip_address(name))
    except ValueError:
        return name


class EdgeGuard:
    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        names = {*LOCAL_NAMES, *settings.trusted_hosts}
        if settings.host not in _ANY_ADDRESS:
            names.add(_canonical(settings.host.lower()))
        own_origins = set()
        if settings.public_url is not None:
            public = urlsplit(settings.public_url)
            names.add(_canonical(public.hostname or ""))
            own_origins.add(f"{public.scheme}://{public.netloc}".lower())
        self._any_host = "*" in names
        self._names = frozenset(n for n in names if not n.startswith("*"))
        self._suffixes = tuple(n[1:] for n in names if n.startswith("*."))
        self._public_origins = frozenset(own_origins)
        self._allowed_origins = frozenset(settings.allowed_origins)

    # Not `async`: an admitted request is the inner app's own coroutine, so the
    # guard adds no frame to a stream that stays open for hours.
    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        if scope["type"] != "http":
            return self.app(scope, receive, send)
        host = origin = fetch_site = None
        for key, value in scope["headers"]:
            if key == b"host":
                host = value.decode("latin-1")
            elif key == b"origin":
                origin = value.decode("latin-1").lower()
            elif key == b"sec-fetch-site":
                fetch_site = value.decode("latin-1").lower()
        # Without a Host header (HTTP/1.0) URLs are built from the socket's own address.
        if host is not None:
            refusal = self._host_refusal(host, scope)
            if refusal is not None:
                return self._refuse(refusal, scope, receive, send)
        if (origin or fetch_site) and scope["method"] not in SAFE_METHODS:
            refusal = self._origin_refusal(scope, host, origin, fetch_site)
            if refusal is not None:
                return self._refuse(refusal, scope, receive, send)
        return self.app(scope, receive, send)

    def _trusted(self, name: str, scope: Scope) -> bool:
        if self._any_host or name in self._names:
            return True
        if self._suffixes and name.endswith(self._suffixes):
            return True
        server = scope.get("server")
        arrival = str(server[0]).lower() if server else None
        if name == arrival:
            return True
        canonical = _canonical(name)
        return canonical != name and (canonical in self._names or canonical == arrival)

    def _host_refusal(self, host: str, scope: Scope) -> ReplaydeckError | None:
        name = _name(host)
        if name is None:
            return UntrustedHost(
                f"The Host header {host[:100]!r} is not a host name with an optional port; "
                "send the name the server is reached by, such as localhost:8000."
            )
        if self._trusted(name, scope):
            return None
        return UntrustedHost(
            f"This server does not answer to the name {name[:100]!r} (the request's Host "
            "header), so that no other site's name can reach it or shape its links. If "
            f'clients really use that name, add it to REPLAYDECK_TRUSTED_HOSTS (["{name[:100]}"]) '
            "or set REPLAYDECK_PUBLIC_URL to the URL they use; otherwise call the server as "
            "localhost or by its address.",
            host=name[:100],
        )

    def _origin_refusal(
        self, scope: Scope, host: str | None, origin: str | None, fetch_site: str | None
    ) -> ReplaydeckError | None:
        if fetch_site in ("same-origin", "none"):
            return None
        if origin is not None:
            if origin in self._allowed_origins:
                return None
            own = origin == f"{scope['scheme']}://{host}".lower() or origin in self._public_origins
            # A browser that sends Sec-Fetch-Site said cross- or same-site already.
            if own and fetch_site is None:
                return None
        named = origin[:100] if origin is not None and origin != "null" else None
        where = f"a page on {named}" if named else "a page of another site"
        return CrossOriginWrite(
            f"This {scope['method']} was sent by a browser for {where}, not for a page of "
            "this server; replaydeck refuses such writes, which any site could make its "
            "visitors' browsers send. To let pages on an origin write here, add it to "
            'REPLAYDECK_ALLOWED_ORIGINS (e.g. ["http://localhost:3000"]).',
            **({"origin": named} if named else {}),
        )

    @staticmethod
    async def _refuse(error: ReplaydeckError, scope: Scope, receive: Receive, send: Send) -> None:
        response = domain_problem(error, mask_share_path(scope["path"]))
        await response(scope, receive, send)
