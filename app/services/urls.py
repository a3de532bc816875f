"""Web addresses people record (an account's URL): http or https with a host, nothing else.

A stored address is shown as a link; ``javascript:`` or ``data:`` there would run or show whatever
it holds when clicked, and ``file:``/``ftp:`` or a relative path point nowhere useful. One rule,
used by every door: the forms, the JSON API, the exit declaration and the CSV import.
"""

from __future__ import annotations

from urllib.parse import urlsplit

SCHEMES = ("http", "https")


def web_address_problem(value: str | None) -> str | None:
    """Why ``value`` is not an http(s) address with a host, or None (also for an empty value)."""
    text = (value or "").strip()
    if not text:
        return None
    if any(ord(ch) < 0x21 or ord(ch) == 0x7F for ch in text) or "\\" in text:
        return "An address cannot contain spaces, control characters or backslashes. Give a full address starting with https://"
    try:
        parts = urlsplit(text)
        port = parts.port  # raises ValueError for a port that is not a number
    except ValueError:
        return "That is not a web address. Give a full address starting with https://"
    del port
    if parts.scheme.lower() not in SCHEMES:
        shown = f"“{parts.scheme}:” addresses are" if parts.scheme else "An address without https:// is"
        return f"{shown} not allowed here. Give a full address starting with https:// (or http://)."
    if not parts.hostname:
        return (
            "The address has no site name. Give a full address starting with https://, such as https://www.facebook.com/riverside"
        )
    return None
