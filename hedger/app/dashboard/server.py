"""The dashboard's web app (starlette) and its server (uvicorn).

Read-only: every route is GET (or HEAD); none sends a transaction, loads a key or writes a setting. Pages
and scripts come from the package (no CDN); updates stream as server-sent events, one per new block.

Safety: bound to 127.0.0.1 unless --host says otherwise; a loopback server accepts only loopback Host
headers (DNS rebinding); any other binding requires an access token (query `?token=` once, then a cookie,
or `Authorization: Bearer`). Every response carries a Content-Security-Policy that allows only this origin.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import ipaddress
import json
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import uvicorn
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hedger.app.dashboard.live import Live
from hedger.backtest.report import CHARTS
from hedger.errors import ToolchainError

STATIC = Path(__file__).parent / "static"
VENDOR_FILES = ("uPlot.iife.min.js", "uPlot.min.css")
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
    "font-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
SECURITY_HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
]
TOKEN_COOKIE = "hedger_dashboard_token"
LOOPBACK_HOSTS = ["127.0.0.1", "localhost", "[::1]", "::1"]


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_assets() -> None:
    missing = [name for name in VENDOR_FILES if not (STATIC / "vendor" / name).exists()]
    if missing:
        raise ToolchainError(
            f"the dashboard's chart library is missing from {STATIC / 'vendor'} ({', '.join(missing)})",
            "run `make setup` (it copies uPlot from node_modules into the package)",
        )


class SecurityHeaders:
    """Adds the CSP and friends to every response (pure ASGI: streams pass through untouched)."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = list(message.get("headers", [])) + SECURITY_HEADERS
            await send(message)

        await self.app(scope, receive, with_headers)


class TokenGate:
    """Every request must carry the access token: `?token=` (then remembered in an HttpOnly cookie), the
    cookie, or `Authorization: Bearer <token>`. Compared in constant time."""

    def __init__(self, app: ASGIApp, token: str):
        self.app, self.token = app, token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope.get("headers", [])}
        query = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("token", [""])[0]
        cookie = SimpleCookie(headers.get("cookie", ""))
        candidates = [query, cookie[TOKEN_COOKIE].value if TOKEN_COOKIE in cookie else ""]
        authorization = headers.get("authorization", "")
        if authorization.lower().startswith("bearer "):
            candidates.append(authorization[7:].strip())
        if not any(c and hmac.compare_digest(c.encode(), self.token.encode()) for c in candidates):
            response = PlainTextResponse("access token required: open the URL `hedger dashboard` printed", 401)
            await response(scope, receive, send)
            return
        if not (query and hmac.compare_digest(query.encode(), self.token.encode())):
            await self.app(scope, receive, send)
            return

        async def set_cookie(message: Message) -> None:
            if message["type"] == "http.response.start":
                value = f"{TOKEN_COOKIE}={self.token}; HttpOnly; SameSite=Strict; Path=/"
                message["headers"] = [*message.get("headers", []), (b"set-cookie", value.encode())]
            await send(message)

        await self.app(scope, receive, set_cookie)


def find_reports(directories: Sequence[Path]) -> dict[str, Path]:
    """Backtest report directories (`hedger backtest --out DIR`: a metrics.json) in or under `directories`."""
    found: dict[str, Path] = {}
    for directory in directories:
        candidates = [directory, *sorted(p for p in directory.glob("*") if p.is_dir())] if directory.is_dir() else []
        for candidate in candidates:
            if (candidate / "metrics.json").is_file():
                name = candidate.name or str(candidate)
                found.setdefault(name if name not in found else f"{name}-{len(found)}", candidate)
    return found


def list_reports(directories: Sequence[Path]) -> list[dict[str, object]]:
    """Each report's name, assets and span (its history's first and last close, as metrics.json gives them)."""
    listing: list[dict[str, object]] = []
    for name, path in find_reports(directories).items():
        data = _read_json(path / "metrics.json").get("data", {})
        listing.append(
            {
                "name": name,
                "spot": data.get("spot_asset"),
                "hedge": data.get("hedge_asset"),
                "start": data.get("first_close_utc"),
                "end": data.get("last_close_utc"),
            }
        )
    return listing


@dataclass
class DashboardApp:
    live: Live
    reports: Sequence[Path] = ()
    token: str | None = None
    loopback: bool = True
    heartbeat_s: float = 15.0
    host: str = "127.0.0.1"  # the address bound: a loopback one is also accepted as a Host name
    app: Starlette = field(init=False)

    def __post_init__(self) -> None:
        check_assets()
        routes = [
            Route("/", self.page("index.html")),
            Route("/guide", self.page("guide.html")),
            Route("/backtests", self.page("backtests.html")),
            Route("/api/state", self.state),
            Route("/api/full", self.full),
            Route("/api/events", self.events),
            Route("/api/backtests", self.backtests),
            Route("/api/backtests/{name}", self.backtest),
            Route("/backtests/{name}/{chart}.png", self.chart),
            Mount("/static", StaticFiles(directory=STATIC), name="static"),
        ]
        hosts = [*LOOPBACK_HOSTS, self.host] if self.loopback else ["*"]
        middleware = [Middleware(SecurityHeaders), Middleware(TrustedHostMiddleware, allowed_hosts=hosts)]
        if self.token:
            middleware.append(Middleware(TokenGate, token=self.token))
        self.app = Starlette(routes=routes, middleware=middleware, lifespan=self.lifespan)

    @contextlib.asynccontextmanager
    async def lifespan(self, _app: Starlette) -> AsyncIterator[None]:
        task = asyncio.create_task(self.live.run())
        self.stopping = asyncio.Event()
        self.loop = asyncio.get_running_loop()
        try:
            yield
        finally:
            self.stopping.set()
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def end_streams(self) -> None:
        """Close every event stream now (from any thread): the server is stopping and must not wait on them."""
        loop = getattr(self, "loop", None)
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._end_streams)

    def _end_streams(self) -> None:
        self.stopping.set()
        self.live.publish("end", {})

    def page(self, name: str) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(_request: Request) -> Response:
            return FileResponse(STATIC / name, headers={"cache-control": "no-store"})

        return endpoint

    async def state(self, _request: Request) -> Response:
        if self.live.current is None:
            return JSONResponse({"error": self.live.error or "no snapshot yet"}, 503)
        return JSONResponse(self.live.current, headers={"cache-control": "no-store"})

    async def full(self, _request: Request) -> Response:
        return JSONResponse(self.live.full(), headers={"cache-control": "no-store"})

    async def events(self, request: Request) -> Response:
        """Server-sent events: `full` at once (state, history, prices), then `update` on every new block."""
        queue = self.live.subscribe()

        async def stream() -> AsyncIterator[str]:
            try:
                yield _event("full", self.live.full())
                while not self.stopping.is_set():
                    try:
                        event, data = await asyncio.wait_for(queue.get(), self.heartbeat_s)
                    except TimeoutError:
                        if await request.is_disconnected():
                            return
                        yield ": keep-alive\n\n"
                        continue
                    if event == "end":
                        return
                    yield _event(event, data)
            finally:
                self.live.unsubscribe(queue)

        headers = {"cache-control": "no-store", "x-accel-buffering": "no"}
        return StreamingResponse(stream(), media_type="text/event-stream", headers=headers)

    async def backtests(self, _request: Request) -> Response:
        listing = list_reports(self.reports)
        return JSONResponse({"reports": listing, "directories": [str(d) for d in self.reports]})

    async def backtest(self, request: Request) -> Response:
        path = find_reports(self.reports).get(request.path_params["name"])
        if path is None:
            return JSONResponse({"error": "no such report"}, 404)
        document = _read_json(path / "metrics.json")
        charts = [{"name": n, "caption": c} for n, c in CHARTS if (path / f"{n}.png").is_file()]
        return JSONResponse({"name": request.path_params["name"], "metrics": document, "charts": charts})

    async def chart(self, request: Request) -> Response:
        path = find_reports(self.reports).get(request.path_params["name"])
        chart = request.path_params["chart"]
        if path is None or chart not in dict(CHARTS) or not (path / f"{chart}.png").is_file():
            return PlainTextResponse("not found", 404)
        return FileResponse(path / f"{chart}.png", media_type="image/png")


def _event(name: str, data: Any) -> str:
    return f"event: {name}\ndata: {json.dumps(data, separators=(',', ':'), allow_nan=False)}\n\n"


def _read_json(path: Path) -> dict[str, Any]:
    try:
        value = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return {}
    return value if isinstance(value, dict) else {}


class StoppingServer(uvicorn.Server):
    """uvicorn that ends the dashboard's event streams as soon as it is told to exit (else it would wait
    for them until its graceful-shutdown timeout)."""

    def __init__(self, config: uvicorn.Config, dashboard: DashboardApp):
        super().__init__(config)
        self.dashboard = dashboard

    def handle_exit(self, sig: int, frame: Any) -> None:
        self.dashboard.end_streams()
        super().handle_exit(sig, frame)


def server_config(dashboard: DashboardApp, host: str, port: int) -> uvicorn.Config:
    return uvicorn.Config(dashboard.app, host=host, port=port, log_level="warning", lifespan="on",
                          timeout_graceful_shutdown=2, access_log=False)  # fmt: skip


class DashboardServer:
    """uvicorn on a thread: `start()` returns once it listens (port 0 picks a free port), `stop()` ends it."""

    def __init__(self, dashboard: DashboardApp, host: str = "127.0.0.1", port: int = 0):
        self.server = StoppingServer(server_config(dashboard, host, port), dashboard)
        self.dashboard = dashboard
        self.host = host
        self.thread = threading.Thread(target=self.server.run, name="hedger-dashboard-server", daemon=True)

    def start(self, timeout_s: float = 20.0) -> DashboardServer:
        self.thread.start()
        deadline = threading.Event()
        for _ in range(int(timeout_s / 0.02)):
            if self.server.started:
                break
            if not self.thread.is_alive():
                raise RuntimeError("the dashboard server did not start")
            deadline.wait(0.02)
        else:
            raise RuntimeError("the dashboard server did not start in time")
        return self

    @property
    def port(self) -> int:
        return self.server.servers[0].sockets[0].getsockname()[1]

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def stop(self) -> None:
        self.dashboard.end_streams()
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.dashboard.live.close()
