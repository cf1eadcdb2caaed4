"""The hedge engine: pure functions from a Snapshot and settings to a Plan.

ratio (estimators) → sizing (targets, venue choice, caps) → guards (allow / reduce-only / halt)
→ policy (when to trade) → plan (actions with reasons). Nothing here imports web3 or touches a network:
the backtest drives the same code with historical data.
"""
