"""`make demo`: a local chain, the reference universe, and a hedge opened on PerpMarket.

python scripts/demo.py
"""

from __future__ import annotations

from decimal import Decimal

from hedger.chain.anvil import Anvil
from hedger.chain.contracts import at
from hedger.chain.universe import deploy_universe, to_units

WAD = Decimal(10) ** 18


def main() -> None:
    with Anvil.launch() as node:
        universe = deploy_universe(node)
        w3, demo = node.w3, universe.demo_account
        perp = at(w3, "PerpMarket", universe.perp_market)
        usdc, weth = (at(w3, "TestToken", universe.tokens[s]) for s in ("USDC", "WETH"))
        print(f"1. Local chain {node.url}, reference universe deployed; PerpMarket at {perp.address}")

        weth_held = Decimal(weth.functions.balanceOf(demo).call()) / WAD
        print(f"2. Demo wallet {demo} holds {weth_held} WETH and no hedge")

        def send(call):
            w3.eth.wait_for_transaction_receipt(call.transact({"from": demo}))

        margin = to_units(Decimal(5_000), 6)
        send(usdc.functions.approve(perp.address, margin))
        send(perp.functions.depositMargin(margin))
        eth = universe.market_ids["ETH"]
        fill = perp.functions.fillPrice(eth, -to_units(weth_held, 18)).call()
        send(perp.functions.modifyPosition(eth, -to_units(weth_held, 18), fill * 995 // 1000))
        print(f"3. Deposited 5,000 USDC margin and shorted {weth_held} ETH at {Decimal(fill) / WAD:.2f}")

        size, entry, _, pnl, funding = perp.functions.getPosition(demo, eth).call()
        _, equity, _, maintenance, notional = perp.functions.accountSummary(demo).call()
        liquidation = perp.functions.liquidationPrice(demo, eth).call()
        print(
            f"4. Position {Decimal(size) / WAD} ETH, entry {Decimal(entry) / WAD:.2f}, PnL {Decimal(pnl) / WAD:.2f} USD,"
            f" funding owed {Decimal(funding) / WAD:.6f} USD; equity {Decimal(equity) / WAD:.2f} USD on"
            f" {Decimal(notional) / WAD:.2f} USD notional (maintenance {Decimal(maintenance) / WAD:.2f});"
            f" liquidation at {Decimal(liquidation) / WAD:.2f}"
        )


if __name__ == "__main__":
    main()
