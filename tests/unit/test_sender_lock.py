"""The sender lock: one sending cycle per (network, account) and journal file, however its path is spelled, released
by the kernel when its holder dies."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from hedger.errors import SenderBusy
from hedger.execution.lease import SenderLock

ACCOUNT = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"


def test_a_second_holder_waits_then_is_refused_with_the_first_named(tmp_path):
    first = SenderLock(tmp_path / "journal.sqlite", "local", ACCOUNT)
    first.acquire("host:1", wait_s=0)
    try:
        started = time.monotonic()
        with pytest.raises(SenderBusy, match="host:1"):
            SenderLock(tmp_path / "journal.sqlite", "local", ACCOUNT).acquire("host:2", wait_s=0.3)
        assert time.monotonic() - started >= 0.3
    finally:
        first.release()
    second = SenderLock(tmp_path / "journal.sqlite", "local", ACCOUNT)
    second.acquire("host:2", wait_s=0)
    second.release()


def test_one_lock_per_journal_file_whatever_the_path_and_the_address_case(tmp_path, monkeypatch):
    (tmp_path / "real").mkdir()
    journal = tmp_path / "real" / "journal.sqlite"
    journal.touch()
    (tmp_path / "link.sqlite").symlink_to(journal)
    monkeypatch.chdir(tmp_path)
    held = SenderLock(journal, "local", ACCOUNT)
    held.acquire("host:1", wait_s=0)
    try:
        for path, account in [
            (tmp_path / "link.sqlite", ACCOUNT),
            (Path("real/../real/journal.sqlite"), ACCOUNT.lower()),
        ]:
            with pytest.raises(SenderBusy):
                SenderLock(path, "local", account).acquire("host:2", wait_s=0)
    finally:
        held.release()
    SenderLock(tmp_path / "other.sqlite", "local", ACCOUNT).acquire("host:3", wait_s=0)  # another journal: its own


def test_a_killed_holder_frees_the_lock_at_once(tmp_path):
    script = (
        "import sys, time; from pathlib import Path; from hedger.execution.lease import SenderLock;"
        f" lock = SenderLock(Path({str(tmp_path / 'journal.sqlite')!r}), 'local', {ACCOUNT!r});"
        " lock.acquire('child', 0);"
        " print('held', flush=True); time.sleep(60)"
    )
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "held"
        with pytest.raises(SenderBusy, match="child"):
            SenderLock(tmp_path / "journal.sqlite", "local", ACCOUNT).acquire("parent", wait_s=0)
    finally:
        child.kill()
        child.wait()
    lock = SenderLock(tmp_path / "journal.sqlite", "local", ACCOUNT)
    lock.acquire("parent", wait_s=0)
    lock.release()
