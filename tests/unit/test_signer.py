"""The signing key: from the environment or an encrypted keystore, never echoed."""

from __future__ import annotations

import json

import pytest
from eth_account import Account

from hedger.chain.nodes import DEV_ACCOUNTS
from hedger.execution.signer import SignerError, load_signer, signer_address_from_env

ADDRESS, KEY = DEV_ACCOUNTS[1]


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for name in ("HEDGER_PRIVATE_KEY", "HEDGER_KEYSTORE", "HEDGER_KEYSTORE_PASSWORD"):
        monkeypatch.delenv(name, raising=False)


def test_a_key_from_the_environment(monkeypatch):
    monkeypatch.setenv("HEDGER_PRIVATE_KEY", KEY)
    assert load_signer().address == ADDRESS == signer_address_from_env()


def test_an_encrypted_keystore_with_its_password(monkeypatch, tmp_path):
    keystore = tmp_path / "key.json"
    # a real scrypt keystore, with a cheaper work factor than eth-account's default 2**18
    keystore.write_text(json.dumps(Account.encrypt(KEY, "correct horse", kdf="scrypt", iterations=2**12)))
    monkeypatch.setenv("HEDGER_KEYSTORE", str(keystore))
    with pytest.raises(SignerError, match="HEDGER_KEYSTORE_PASSWORD is not"):
        load_signer()
    monkeypatch.setenv("HEDGER_KEYSTORE_PASSWORD", "wrong")
    with pytest.raises(SignerError, match="wrong password") as error:
        load_signer()
    assert KEY[2:] not in str(error.value) and error.value.__cause__ is None
    monkeypatch.setenv("HEDGER_KEYSTORE_PASSWORD", "correct horse")
    assert load_signer().address == ADDRESS


def test_no_key_says_how_to_configure_one():
    assert signer_address_from_env() is None
    with pytest.raises(SignerError, match="HEDGER_PRIVATE_KEY"):
        load_signer()
