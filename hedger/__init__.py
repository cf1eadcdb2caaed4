"""hedger: hedge on-chain exposure with decentralized perpetual futures."""

__version__ = "0.1.0"
