"""`hedger dashboard`: a local, read-only web page that shows exposure, positions, funding, oracle health,
the plan and its guards, the journal and the keeper, live on every block (server-sent events), with charts
(uPlot, served from the package), the backtest reports and a guide that uses the user's own numbers.

- api.py: the page's data as JSON, formatted by hedger.app.display (pure);
- live.py: snapshot → plan on every new block, journal and keeper status read alongside;
- server.py: the starlette app (GET only, CSP, loopback or token) and uvicorn;
- cli.py: the subcommand; static/: the pages, the script and the styles.
"""
