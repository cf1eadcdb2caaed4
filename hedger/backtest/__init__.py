"""Backtests: history → the live strategy code (ratio estimators, rebalance policy) → metrics and reports.

    data.py      load Binance and dYdX files, align spot and hedge perp on UTC hours, record gaps
    policies.py  named policies: a `hedger.strategy.ratio` estimator + a `hedger.strategy.policy.RebalancePolicy`
    engine.py    the accounting loop (P&L, funding, fees, slippage, gas, margin, liquidations)
    metrics.py   hedge effectiveness at 1 h and 1 d, tracking error, carry, drawdown, …
    sweep.py     many configurations in parallel
    cli.py       `hedger backtest`

    from hedger.backtest.data import align, load_binance
    from hedger.backtest.engine import run_backtest
    from hedger.backtest.metrics import compute_metrics
    from hedger.backtest.policies import policy_from_name

    eth, btc = load_binance("binance_ethusdt_1h_2019_2023.csv"), load_binance("binance_btcusdt_1h_2019_2023.csv")
    result = run_backtest(align(eth, btc), policy_from_name("rolling_ols"))     # ETH held, BTC perp short
    compute_metrics(result)["he_1h"]

The submodules are imported on demand, so `hedger --help` does not pay for pandas and matplotlib.
"""
