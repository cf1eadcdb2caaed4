"""Write the ABIs of hedger's own contracts that the package needs at run time into hedger/venues/abi/.

An installed hedger has no build/ directory, so the reference venue's ABI (PerpMarket) ships as package
data beside the other venues' ABIs. Run after changing PerpMarket's interface (tests/integration/
test_compiler.py fails until the shipped copy matches the compiled contract):

    .venv/bin/python tools/ship_abis.py
"""

from __future__ import annotations

import json
import sys

from hedger.chain.contracts import compile_contracts
from hedger.venues._abi import ABI_DIR

SHIPPED = {"reference": ("PerpMarket",)}


def shipped_documents() -> dict[str, dict[str, list]]:
    """{file stem: {contract: abi}} as compiled from contracts/ now."""
    artifacts = compile_contracts()
    return {stem: {name: artifacts[name].abi for name in names} for stem, names in SHIPPED.items()}


def main() -> int:
    for stem, document in shipped_documents().items():
        path = ABI_DIR / f"{stem}.json"
        path.write_text(json.dumps(document, indent=1) + "\n")
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
