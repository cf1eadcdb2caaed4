"""URL redaction (hedger.chain.redact): keys in userinfo, query or path never reach a screen or a log."""

from __future__ import annotations

from hedger.chain.redact import redact_text, redact_url


def test_userinfo_query_and_keylike_path_segments_are_hidden():
    assert (
        redact_url("https://user:pw@arb.example.com/v2/abc123def456ghi789?key=zzz") == "https://arb.example.com/v2/…?…"
    )
    assert redact_url("http://127.0.0.1:8545") == "http://127.0.0.1:8545"


def test_every_url_inside_a_message_is_redacted():
    message = "POST https://user:pw@arb.example.com/v3/0123456789abcdef0123 failed"
    assert redact_text(message) == "POST https://arb.example.com/v3/… failed"


def test_urllib3_debug_request_lines_lose_their_path_secrets():
    line = '127.0.0.1:8545 "POST /v2/abcdef0123456789abcdef?apikey=SECRETAPIKEY123 HTTP/1.1" 200 41'
    redacted = redact_text(line)
    assert "abcdef0123456789abcdef" not in redacted and "SECRETAPIKEY123" not in redacted
    assert '"POST /v2/…?… HTTP/1.1" 200' in redacted


def test_keys_that_are_all_letters_short_or_dashed_are_hidden_too():
    for key in ("abcdefghijklmnopqrstu", "Ab3Cd5Ef7Gh9Ij", "deadbeef-cafe", "a1b2c3d4"):
        assert key not in redact_url(f"https://rpc.example/v3/{key}"), key
    assert redact_url("https://api.avax.network/ext/bc/C/rpc") == "https://api.avax.network/ext/bc/C/rpc"


def test_a_fork_upstream_with_anything_past_the_endpoint_is_forwarded():
    from hedger.chain.nodes.forward import needs_forwarding

    assert not needs_forwarding("http://127.0.0.1:8545") and not needs_forwarding("http://127.0.0.1:8545/")
    for url in ("http://u:pw@host:8545", "https://host/abcdefghijklmnopqrstu", "https://host/?k=1", "https://h/#x"):
        assert needs_forwarding(url), url
