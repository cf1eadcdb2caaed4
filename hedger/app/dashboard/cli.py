"""The `hedger dashboard` subcommand (argparse only; the web stack is imported when it runs)."""

from __future__ import annotations

import argparse
import os
import secrets
import sys
from pathlib import Path

from hedger.errors import HedgerError

DEFAULT_PORT = 8765
TOKEN_ENV = "HEDGER_DASHBOARD_TOKEN"


def add_dashboard_command(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("dashboard", help="a local read-only web dashboard, updated on every block")
    parser.add_argument("--network", default=os.environ.get("HEDGER_NETWORK", "local"), help="networks/<NAME>.toml")
    parser.add_argument("--account", help="address to show (default: HEDGER_ACCOUNT or the network's demo account)")
    parser.add_argument("--rpc-url", help="override the RPC URL (prefer the network's env variable in .env)")
    parser.add_argument("--journal", help="journal file to read (default: .hedger/<network>-journal.sqlite)")
    parser.add_argument("--ratio", action="append", metavar="ASSET=R", help="hedge ratio for an asset (repeatable)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT})")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    parser.add_argument(
        "--reports",
        action="append",
        type=Path,
        metavar="DIR",
        help="backtest reports (`hedger backtest --out DIR`) to show; default: ./reports",
    )
    parser.add_argument("--interval", type=float, default=0.25, help="seconds between polls for a new block")
    parser.set_defaults(handler=run_dashboard)


def run_dashboard(args: argparse.Namespace) -> int:
    try:
        from hedger.app.dashboard.server import DashboardApp, StoppingServer, is_loopback, server_config
    except ImportError as error:  # starlette and uvicorn are the `dashboard` extra
        raise HedgerError(f"the dashboard needs {error.name}", "pip install 'hedger[dashboard]'") from None
    from hedger.app.dashboard.live import Live, open_session
    from hedger.app.session import parse_ratios
    from hedger.chain.redact import redact_url

    session = open_session(args.network, args.rpc_url, args.account, args.journal, parse_ratios(args.ratio))
    loopback = is_loopback(args.host)
    token = None
    if not loopback:
        token = os.environ.get(TOKEN_ENV) or secrets.token_urlsafe(24)
        print(
            f"warning: binding {args.host}:{args.port} makes the dashboard reachable from other machines; every "
            f"request needs the access token (set {TOKEN_ENV} to choose it). Prefer 127.0.0.1 and an SSH tunnel.",
            file=sys.stderr,
        )
    reports = args.reports or [Path("reports")]
    live = Live(session, poll_interval_s=args.interval)
    dashboard = DashboardApp(live, reports, token=token, loopback=loopback, host=args.host)
    shown_host = "127.0.0.1" if args.host in ("0.0.0.0", "::") else args.host
    suffix = f"/?token={token}" if token else "/"
    print(f"hedger dashboard: {session.network.name} (chain {session.network.chain_id}), account {session.account}")
    print(f"  RPC {redact_url(session.rpc_url)}; read-only: nothing here can send a transaction")
    print(f"  open http://{shown_host}:{args.port}{suffix}   (Ctrl-C stops it)", flush=True)
    try:
        StoppingServer(server_config(dashboard, args.host, args.port), dashboard).run()
    finally:
        live.close()
    return 0
