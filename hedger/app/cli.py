"""The `hedger` command line.

Exit codes: 0 success (or nothing to do); 1 a hedger error (message and hint on stderr); 2 bad usage;
3 the guards halted the plan (nothing sent); 4 an action failed (simulation or on chain; see the
journal); 130 interrupted.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from hedger.app.dashboard.cli import add_dashboard_command
from hedger.backtest.cli import add_backtest_command
from hedger.errors import HedgerError

if TYPE_CHECKING:
    from hedger.app.session import Session
    from hedger.app.telemetry import KeeperMetrics

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_HALTED, EXIT_ACTION_FAILED, EXIT_INTERRUPTED = 0, 1, 2, 3, 4, 130


def _chain_up(args: argparse.Namespace) -> int:
    from hedger.chain.history_seed import load_seed
    from hedger.chain.nodes import DEV_ACCOUNTS, NodeConfig, node_kind
    from hedger.chain.universe import deploy_universe, write_network_file

    started = time.monotonic()
    kind = node_kind(args.node)
    config = NodeConfig(port=args.port, fork_url=args.fork_url, fork_block=args.fork_block, chain_id=args.chain_id)
    seed = load_seed(args.history_days) if args.history_days > 0 else None
    with kind.launch(config) as node:
        universe = deploy_universe(node, history=seed)
        write_network_file(universe, Path(args.network_file))
        elapsed = time.monotonic() - started
        print(f"{node.name} {node.url} (chain id {universe.chain_id}) ready with the reference universe", end="")
        print(f" in {elapsed:.1f} s")
        print(f"Network file: {args.network_file}")
        print(f"  PerpMarket  {universe.perp_market}  markets {universe.market_ids}")
        for symbol, address in universe.tokens.items():
            print(f"  {symbol:<10}  {address}")
        for name, address in universe.feeds.items():
            print(f"  {name:<10}  {address}")
        print(f"  Sequencer   {universe.sequencer_feed}")
        print(f"  Multicall3  {universe.multicall}")
        if seed is not None:
            print(f"Feeds seeded with {seed.hours} hourly rounds: {universe.history}")
        demo_key = dict(DEV_ACCOUNTS)[universe.demo_account]
        print(f"Demo account {universe.demo_account}; for local use only, in .env:")
        print(f"  HEDGER_PRIVATE_KEY={demo_key}   # a public development key (Anvil's #1): never hold real funds")
        print("Ctrl-C stops the chain.")
        _wait_for_stop(lambda: node.alive)
    return EXIT_OK


def _wait_for_stop(alive: Callable[[], bool]) -> None:
    """Block until SIGINT/SIGTERM, or until the child process exits on its own."""
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    while not stop.wait(0.5):
        if not alive():
            raise HedgerError("the chain process exited unexpectedly")


def _session(args: argparse.Namespace) -> Session:
    """Network file, chain-id-pinned connection, account, settings and journal, from the options."""
    from hedger.app.session import Session, parse_ratios

    return Session.open(
        args.network,
        args.rpc_url,
        args.account,
        getattr(args, "journal", None),
        parse_ratios(getattr(args, "ratio", [])),
    )


def _status(args: argparse.Namespace) -> int:
    from hedger.app.display import ratios_text, status_text
    from hedger.model import to_jsonable

    session = _session(args)
    snapshot = session.snapshot()
    session.hedge_ratios(snapshot)
    ratios = list(session.ratio_book.live.values())
    if args.json:
        print(json.dumps({**to_jsonable(snapshot), "ratios": [r.to_jsonable() for r in ratios]}, indent=2))
    else:
        print(status_text(snapshot) + ("\n\nHedge ratios\n" + ratios_text(ratios) if ratios else ""))
    return EXIT_OK


def _plan(args: argparse.Namespace) -> int:
    from hedger.app.display import plan_text, ratios_text

    session = _session(args)
    plan = session.run_once(execute=False).plan
    ratios = list(session.ratio_book.live.values())
    if args.json:
        print(json.dumps({**plan.to_json(), "ratios": [r.to_jsonable() for r in ratios]}, indent=2))
    else:
        shown = ratios or session.ratios
        print(plan_text(plan) + ("\n\nHedge ratios\n" + ratios_text(ratios, session.ratios) if shown else ""))
    return EXIT_HALTED if plan.halted else EXIT_OK


def _ratio(args: argparse.Namespace) -> int:
    """The estimate of one asset's ratio (or every configured one, else every hedgeable one), its uncertainty, and a
    quick walk-forward."""
    from hedger.app.display import ratios_text
    from hedger.app.session import hedgeable_assets, known_asset, known_assets
    from hedger.chain.multicall import latest_block
    from hedger.strategy.ratio.live import WalkForward

    session = _session(args)
    book, known = session.ratio_book, known_assets(session.network)
    hedge_with = known_asset(args.hedge_with, known, "--hedge-with") if args.hedge_with else None
    if args.asset:
        assets = [known_asset(args.asset, known, "hedger ratio")]
    else:  # the configured ones, else every asset a venue has a perp for
        assets = sorted(book.specs) or sorted(hedgeable_assets(session.network))
    if not assets:
        raise HedgerError("no asset to estimate", "name one (hedger ratio ETH) or add [strategy.ratio.<ASSET>] tables")
    block = latest_block(session.reader.rpc)
    estimates = book.estimate(assets, block, hedge_with=hedge_with)
    walks: dict[str, tuple[WalkForward, WalkForward] | HedgerError] = {}
    for asset in assets:
        try:
            walks[asset] = book.walk_forward(asset)
        except HedgerError as error:
            walks[asset] = error
    if args.json:
        out = [
            {**estimates[a].to_jsonable(),
             "walk_forward": {"error": str(w)} if isinstance(w, HedgerError)
             else {"estimator": w[0].to_jsonable(), "one_to_one": w[1].to_jsonable()}}
            for a, w in walks.items()
        ]  # fmt: skip
        print(json.dumps(out, indent=2))
        return EXIT_OK
    print(f"Hedge ratios at block {block.number}\n" + ratios_text(list(estimates.values())))
    print("\nWalk-forward on the same history (ratio known at t hedges (t, t+1]; out of sample)")
    for asset, walk in walks.items():
        if isinstance(walk, HedgerError):
            print(f"  {asset}: {walk}")
            continue
        est, one = walk
        print(f"  {asset}: {est.method} HE {est.he:.2%} vs 1:1 {one.he:.2%} over {est.observations} intervals "
              f"(mean ratio {est.mean_ratio:.4f})")  # fmt: skip
    return EXIT_OK


def _rebalance(args: argparse.Namespace) -> int:
    from hedger.app.display import execution_text, exposure_change_text, plan_text
    from hedger.model import to_jsonable

    run = _session(args).run_once(execute=args.execute, simulate=not args.execute, read_after=True)
    plan, report, before, after = run.plan, run.report, run.snapshot, run.after
    method = run.mode
    assert report is not None  # executed or simulated
    if args.json:
        exposure_after = to_jsonable(after.exposures) if after else None
        out = {"plan": plan.to_json(), "mode": method, "report": to_jsonable(report),
               "exposure_before": to_jsonable(before.exposures), "exposure_after": exposure_after}  # fmt: skip
        print(json.dumps(out, indent=2))
    else:
        print(plan_text(plan))
        halted_before_sending = report.halted and not report.outcomes
        heading = "Execution (halted by the guards)" if halted_before_sending else f"Execution ({method})"
        print(f"\n{heading}\n{execution_text(report)}")
        if after is not None:
            print(f"\nExposure before → after\n{exposure_change_text(before, after)}")
    if plan.halted:
        return EXIT_HALTED
    return EXIT_ACTION_FAILED if report.failed else EXIT_OK


def _add_chain_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--network", default=os.environ.get("HEDGER_NETWORK", "local"), help="networks/<NAME>.toml")
    parser.add_argument("--account", help="address to read (default: HEDGER_ACCOUNT, the signer's, or the demo's)")
    parser.add_argument("--rpc-url", help="override the RPC URL (prefer the network's env variable in .env)")
    parser.add_argument("--json", action="store_true", help="machine-readable output")


def _keeper_run(args: argparse.Namespace) -> int:
    from hedger.app.keeper import Keeper, KeeperConfig
    from hedger.app.telemetry import KeeperMetrics

    metrics = KeeperMetrics()
    overrides = dict(dry_run=args.dry_run or None, poll_interval_s=args.interval, max_cycles=args.max_cycles,
                     kill_switch_file=Path(args.kill_switch) if args.kill_switch else None, print_cycles=True,
                     json_logs=args.json or None)  # fmt: skip
    if args.fleet:
        return _fleet_run(args, metrics, overrides)
    session = _session(args)
    config = KeeperConfig.from_mapping(dict(session.network.keeper), holder=args.holder, **overrides)
    keeper = Keeper(session, config, metrics)
    if args.metrics_port:
        metrics.serve(args.metrics_port)
    return keeper.run()


def _fleet_run(args: argparse.Namespace, metrics: KeeperMetrics, overrides: dict) -> int:
    """Every account of a fleet file in this process, each under its own lease."""
    from hedger.app.fleet import Fleet, open_keepers
    from hedger.settings import load_env, load_fleet

    load_env()
    fleet = load_fleet(args.fleet)
    keepers = open_keepers(fleet, args.journal, args.holder, metrics, **overrides)
    if args.metrics_port:
        metrics.serve(args.metrics_port)
    return Fleet(keepers, keepers[0].config.poll_interval_s).run()


def _add_plan_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--ratio", action="append", metavar="ASSET=R", help="hedge ratio for an asset (repeatable)")
    parser.add_argument(
        "--journal",
        help="journal: a file path (SQLite) or a postgresql:// URL (default: HEDGER_JOURNAL, else"
        " .hedger/<network>-journal.sqlite)",
    )


def _compile(args: argparse.Namespace) -> int:
    from hedger.chain.contracts import compile_contracts, compiler_version, dependencies
    from hedger.chain.toolchain import project_root

    artifacts = compile_contracts(force=args.force)
    external = {name: d for d in dependencies(project_root()) for name in d.contracts}
    deployable = sorted(n for n, a in artifacts.items() if len(a.bytecode) > 2 and n not in external)
    print(f"solc {compiler_version()}: {len(deployable)} deployable contracts: {', '.join(deployable)}")
    for name, dependency in sorted(external.items()):
        print(f"solc {compiler_version(dependency.compiler)}: {name} from node_modules/{dependency.source}")
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    from hedger import __version__

    parser = argparse.ArgumentParser(prog="hedger", description="Hedge on-chain exposure with perpetual futures.")
    parser.add_argument("--version", action="version", version=f"hedger {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    chain = commands.add_parser("chain", help="local chains (Anvil or Ganache)")
    chain_commands = chain.add_subparsers(dest="chain_command", required=True)
    up = chain_commands.add_parser(
        "up", help="start a local node, deploy the reference universe, write the network file"
    )
    up.add_argument("--node", default="anvil", help="anvil (the default) or ganache: see docs/nodes.md")
    up.add_argument("--port", type=int, default=8545)
    up.add_argument("--fork-url", help="fork this chain (an RPC URL) instead of starting a fresh one")
    up.add_argument("--fork-block", type=int, help="fork at this block (default: latest)")
    up.add_argument("--chain-id", type=int, help="fresh chain: its id (31337); fork: the id it must report")
    up.add_argument("--network-file", default="networks/local.toml")
    up.add_argument("--history-days", type=int, default=30, help="days of hourly rounds seeded in the feeds (0: none)")
    up.set_defaults(handler=_chain_up)

    status = commands.add_parser("status", help="exposure, positions, funding, oracles, sequencer: one block")
    _add_chain_options(status)
    status.set_defaults(handler=_status)

    plan = commands.add_parser("plan", help="what hedger would do now, and why (sends nothing)")
    _add_chain_options(plan)
    _add_plan_options(plan)
    plan.set_defaults(handler=_plan)

    rebalance = commands.add_parser("rebalance", help="carry out the plan: a dry run on a fork unless --execute")
    _add_chain_options(rebalance)
    _add_plan_options(rebalance)
    rebalance.add_argument("--execute", action="store_true", help="send the transactions (key from .env)")
    rebalance.set_defaults(handler=_rebalance)

    ratio = commands.add_parser("ratio", help="estimated hedge ratios, their uncertainty and a walk-forward")
    _add_chain_options(ratio)
    ratio.add_argument("asset", nargs="?", help="the held asset (default: every [strategy.ratio] asset)")
    ratio.add_argument("--hedge-with", help="estimate against this asset's price instead of the configured one")
    ratio.add_argument("--journal", help="journal file (the round cache sits beside it)")
    ratio.set_defaults(handler=_ratio)

    keeper = commands.add_parser("keeper", help="the keeper loop").add_subparsers(dest="keeper_command", required=True)
    run = keeper.add_parser("run", help="snapshot → plan → execute on every new block, until SIGTERM")
    _add_chain_options(run)
    _add_plan_options(run)
    run.add_argument("--dry-run", action="store_true", help="plan and log every block, send nothing")
    run.add_argument("--interval", type=float, help="seconds between polls for a new block (default 1)")
    run.add_argument("--metrics-port", type=int, help="serve Prometheus metrics on 127.0.0.1:PORT")
    run.add_argument("--kill-switch", help="file whose existence stops risk-adding actions (default .hedger/STOP)")
    run.add_argument("--max-cycles", type=int, help="stop after N cycles (default: run until stopped)")
    run.add_argument("--fleet", help="a fleet file: serve every account it lists, each under its own lease")
    run.add_argument(
        "--holder",
        help="this process's name in the sender leases (default: HEDGER_HOLDER, else host:pid); giving one"
        " takes a lease on a SQLite journal too (a PostgreSQL journal always does)",
    )
    run.set_defaults(handler=_keeper_run)

    compile_cmd = commands.add_parser("compile", help="compile contracts/ with solc-js (only what changed)")
    compile_cmd.add_argument("--force", action="store_true", help="recompile everything")
    compile_cmd.set_defaults(handler=_compile)
    add_backtest_command(commands)
    add_dashboard_command(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    from hedger.app.logs import configure

    args = build_parser().parse_args(argv)
    configure()
    on_main_thread = threading.current_thread() is threading.main_thread()
    # SIGTERM ends a command as Ctrl-C does (the keeper has its own handling: it finishes its cycle first)
    previous = signal.signal(signal.SIGTERM, _terminated) if on_main_thread and args.command != "keeper" else None
    try:
        return args.handler(args)
    except HedgerError as error:
        from hedger.chain.redact import redact_text

        print(f"error: {redact_text(str(error))}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        sending = args.command == "rebalance" and args.execute
        print(INTERRUPTED_WHILE_SENDING if sending else "interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


INTERRUPTED_WHILE_SENDING = (
    "interrupted: whatever was signed is in the journal; run the same command again to reconcile it with the chain"
    " (nothing is sent twice)"
)


def _terminated(signum: int, frame: object) -> None:
    """SIGTERM as Ctrl-C: the same message, exit 130, and the journal left as the crash-safe path leaves it."""
    raise KeyboardInterrupt


if __name__ == "__main__":
    sys.exit(main())
