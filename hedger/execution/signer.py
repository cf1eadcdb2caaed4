"""The user's own key: from the environment / .env (HEDGER_PRIVATE_KEY) or an encrypted JSON
keystore (HEDGER_KEYSTORE + HEDGER_KEYSTORE_PASSWORD). A key is never printed, logged or put in an
exception: everything that must name the signer names its address.

eth_account is imported only to sign: the read-only commands learn the key's address from
`signer_address_from_env`, which derives it here (secp256k1 public key, keccak-256) in a few ms."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING

from hedger.chain.abi import keccak, to_checksum_address
from hedger.errors import HedgerError

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount


class SignerError(HedgerError):
    """No usable signing key (never says what the key was)."""


DEFAULT_KEY_ENV = "HEDGER_PRIVATE_KEY"


def load_signer(key_env: str = DEFAULT_KEY_ENV) -> LocalAccount:
    """The signing account from HEDGER_PRIVATE_KEY (or the variable `key_env` names: one per account
    of a keeper serving several), or from HEDGER_KEYSTORE with its password."""
    key = os.environ.get(key_env)
    if key:
        try:
            return _from_key(key)
        except SignerError:
            raise SignerError(f"{key_env} is not a valid private key", _BAD_KEY_HINT) from None
    if key_env != DEFAULT_KEY_ENV:
        raise SignerError(f"{key_env} is not set", f"put this account's key in {key_env} (in .env)")
    keystore = os.environ.get("HEDGER_KEYSTORE")
    if keystore:
        return _from_keystore(Path(keystore), os.environ.get("HEDGER_KEYSTORE_PASSWORD"))
    raise SignerError(
        "no signing key configured",
        "set HEDGER_PRIVATE_KEY in .env, or HEDGER_KEYSTORE (a JSON keystore) and HEDGER_KEYSTORE_PASSWORD",
    )


def signer_address_from_env() -> str | None:
    """The address of the configured key, if one is configured (a private key's without eth_account)."""
    key = os.environ.get("HEDGER_PRIVATE_KEY")
    if key:
        return address_of_key(key)
    if not os.environ.get("HEDGER_KEYSTORE"):
        return None
    return load_signer().address


def address_of_key(key: str) -> str:
    """The checksummed address of a hex private key: keccak-256 of its secp256k1 public key, last 20 bytes."""
    secret = _secret(key)
    x, y = _multiply(secret, (_GX, _GY))
    return to_checksum_address(keccak(x.to_bytes(32, "big") + y.to_bytes(32, "big"))[12:])


def _secret(key: str) -> int:
    text = key.strip().removeprefix("0x")
    secret = int(text, 16) if _KEY.fullmatch(text) else 0
    if not 0 < secret < _N:
        raise SignerError(_BAD_KEY, _BAD_KEY_HINT)  # never echoes the key
    return secret


def _multiply(scalar: int, point: tuple[int, int]) -> tuple[int, int]:
    """scalar × point on secp256k1 (double-and-add in affine coordinates; fine for one key)."""
    result: tuple[int, int] | None = None
    addend: tuple[int, int] | None = point
    while scalar:
        if scalar & 1:
            result = _add(result, addend)
        addend = _add(addend, addend)
        scalar >>= 1
    assert result is not None  # 0 < scalar < n
    return result


def _add(p: tuple[int, int] | None, q: tuple[int, int] | None) -> tuple[int, int] | None:
    if p is None or q is None:
        return p or q
    if p[0] == q[0] and (p[1] + q[1]) % _P == 0:
        return None
    tangent = p == q
    rise, run = (3 * p[0] * p[0], 2 * p[1]) if tangent else (q[1] - p[1], q[0] - p[0])
    slope = rise * pow(run, -1, _P) % _P
    x = (slope * slope - p[0] - q[0]) % _P
    return x, (slope * (p[0] - x) - p[1]) % _P


_P = 2**256 - 2**32 - 977
_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
_GX = 0x79BE667EF9DCBBAC55A06295CE870B07029BFCDB2DCE28D959F2815B16F81798
_GY = 0x483ADA7726A3C4655DA4FBFC0E1108A8FD17B448A68554199C47D08FFB10D4B8
_KEY = re.compile(r"[0-9a-fA-F]{64}")
_BAD_KEY, _BAD_KEY_HINT = (
    "HEDGER_PRIVATE_KEY is not a valid private key",
    "it must be 32 bytes of hex, with or without 0x",
)


def _from_key(key: str) -> LocalAccount:
    from eth_account import Account

    _secret(key)
    try:
        return Account.from_key(key.strip())
    except Exception:
        # the exception text could echo the key: raise a fresh one that does not chain it
        raise SignerError(_BAD_KEY, _BAD_KEY_HINT) from None


def _from_keystore(path: Path, password: str | None) -> LocalAccount:
    from eth_account import Account

    if password is None:
        raise SignerError(f"HEDGER_KEYSTORE is set ({path}) but HEDGER_KEYSTORE_PASSWORD is not")
    try:
        encrypted = json.loads(path.read_text())
    except (OSError, ValueError) as error:  # ValueError: not JSON, or not text (UnicodeDecodeError)
        raise SignerError(f"cannot read the keystore {path}: {error}") from None
    try:
        return Account.from_key(Account.decrypt(encrypted, password))
    except Exception:
        address = encrypted.get("address", "?") if isinstance(encrypted, dict) else "?"
        raise SignerError(f"cannot decrypt the keystore {path} (address {address}): wrong password?") from None
