"""Redaction of RPC URLs for anything printed, logged or raised: providers put API keys in the userinfo,
the query, or a path segment (Alchemy /v2/<key>, Infura /v3/<key>, QuickNode /<token>/)."""

from __future__ import annotations

import re

_URL = re.compile(r"\b([a-zA-Z][a-zA-Z0-9+.-]*)://([^\s'\"<>,()\[\]{}]+)")
# A path segment that may be a key: long (12+ characters, whatever they are), mixed letters and digits (8+), or
# hex (8+). Short words ("v2", "rpc", "ext", "mainnet") stay: over-hiding a URL costs little, under-hiding a key a lot.
_KEYLIKE = re.compile(r"^.{12,}$|^(?=.*\d)(?=.*[A-Za-z])[A-Za-z0-9_\-]{8,}$|^[A-Fa-f0-9]{8,}$")
_SECRET_WORDS = re.compile(r"key|token|secret|auth|pass", re.IGNORECASE)


def redact_url(url: str) -> str:
    """scheme://host[:port]/path with userinfo dropped, the query and fragment replaced by `?…`, and any
    path segment that looks like a key (long, mixed letters and digits, or hex) replaced by `…`."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return _redact_segments(url.split("?")[0].split("#")[0]) + ("?…" if "?" in url or "#" in url else "")
    authority, slash, path = rest.partition("/")
    host = authority.rsplit("@", 1)[-1]
    hidden_query = any(c in path for c in "?#") or any(c in host for c in "?#")
    host = host.split("?")[0].split("#")[0]
    path = path.split("?")[0].split("#")[0]
    out = f"{scheme}://{host}"
    if slash:
        out += "/" + _redact_segments(path)
    return out + ("?…" if hidden_query else "")


def _redact_segments(path: str) -> str:
    return "/".join("…" if _KEYLIKE.match(seg) or _SECRET_WORDS.search(seg) else seg for seg in path.split("/"))


# urllib3 quotes a path alone: "Max retries exceeded with url: /v2/<key>", and its debug request lines
# '"POST /v2/<key>?apikey=<key> HTTP/1.1" 200'
_URLLIB3_PATH = re.compile(r"(url: |\b(?:GET|POST|PUT|HEAD|OPTIONS) )(/[^\s'\"()]*)")


def redact_text(text: str) -> str:
    """Every URL inside a message redacted (exception texts from requests/urllib3 quote the full URL), and
    every request path urllib3 quotes without its host."""
    text = _URL.sub(lambda m: redact_url(m.group(0)), text)
    return _URLLIB3_PATH.sub(lambda m: m.group(1) + redact_url(m.group(2)), text)
