"""The user's own key: from the environment / .env (HEDGER_PRIVATE_KEY) or an encrypted JSON
keystore (HEDGER_KEYSTORE + HEDGER_KEYSTORE_PASSWORD). A key is never printed, logged or put in an
exception: everything that must name the signer names its address."""

from __future__ import annotations

import json
import os
from pathlib import Path

from eth_account import Account
from eth_account.signers.local import LocalAccount

from hedger.errors import HedgerError

DEFAULT_KEY_ENV = "HEDGER_PRIVATE_KEY"


class SignerError(HedgerError):
    """No usable signing key (never says what the key was)."""


def load_signer(key_env: str = DEFAULT_KEY_ENV) -> LocalAccount:
    """The signing account from HEDGER_PRIVATE_KEY (or the variable `key_env` names: one per account
    of a keeper serving several), or from HEDGER_KEYSTORE with its password."""
    key = os.environ.get(key_env)
    if key:
        return _from_key(key, key_env)
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
    """The address of the configured key, if one is configured."""
    if not (os.environ.get("HEDGER_PRIVATE_KEY") or os.environ.get("HEDGER_KEYSTORE")):
        return None
    return load_signer().address


def _from_key(key: str, key_env: str) -> LocalAccount:
    try:
        return Account.from_key(key.strip())
    except Exception:
        # the exception text could echo the key: raise a fresh one that does not chain it
        raise SignerError(
            f"{key_env} is not a valid private key", "it must be 32 bytes of hex, with or without 0x"
        ) from None


def _from_keystore(path: Path, password: str | None) -> LocalAccount:
    if password is None:
        raise SignerError(f"HEDGER_KEYSTORE is set ({path}) but HEDGER_KEYSTORE_PASSWORD is not")
    try:
        encrypted = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise SignerError(f"cannot read the keystore {path}: {error}") from None
    try:
        return Account.from_key(Account.decrypt(encrypted, password))
    except Exception:
        address = encrypted.get("address", "?") if isinstance(encrypted, dict) else "?"
        raise SignerError(f"cannot decrypt the keystore {path} (address {address}): wrong password?") from None
