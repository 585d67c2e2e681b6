"""Credentials out of every text that leaves the process: logs, MQTT payloads, API answers, error messages.

URLs are redacted by parsing, not by guessing where a password ends. A user may put any reserved character in a
password (``P@ss``, ``Sl/ash``, ``a?b#c``) without percent-encoding it, so the userinfo of a URL is taken to be
everything between ``scheme://`` and the *last* ``@`` of the URL: whatever the password holds, it lies before that
``@`` and is replaced by ``***``. The price is that a URL whose path holds an ``@`` (rare in camera URLs) loses its
host too: showing too little is the safe side. Scheme typos (``rtsp//u:p@h``, ``rtsp:/u:p@h``) are redacted
the same way, so a config error that quotes the bad URL does not print the password.

Example:
    >>> redact_url("rtsp://cam:P@ss/w0rd@10.0.0.5/lobby")
    'rtsp://***@10.0.0.5/lobby'
    >>> redact_text("cannot open rtsp://cam:pw@host/x: refused")
    'cannot open rtsp://***@host/x: refused'
"""

from __future__ import annotations

import re
from urllib.parse import quote, unquote

HIDDEN = "***"

_URL = re.compile(r"(?P<prefix>\b[A-Za-z][A-Za-z0-9+.-]*:/{1,2}|\b[A-Za-z][A-Za-z0-9+.-]*//|(?<![\w/])//)(?P<rest>\S+)")
"""A URL as it may appear in text: ``scheme://``, or a typo of it (``scheme:/``, ``scheme//``, ``//``), then
everything up to white space. White space cannot be part of a URL, so the URL's userinfo lies inside ``rest``."""


def redact_url(url: str) -> str:
    """``url`` without its userinfo: ``rtsp://user:secret@host/x`` -> ``rtsp://***@host/x``.

    Anything that is not a URL (a file path, a device) comes back unchanged.
    """
    return redact_text(url)


def redact_text(text: str) -> str:
    """``text`` with the userinfo of every URL in it replaced by ``***`` (see the module docstring)."""
    return _URL.sub(_redact_match, text)


def _redact_match(match: re.Match[str]) -> str:
    rest = match["rest"]
    if "@" not in rest:
        return match[0]
    return f"{match['prefix']}{HIDDEN}@{rest.rpartition('@')[2]}"


def url_credentials(url: str) -> tuple[str | None, str | None]:
    """The user name and password of ``url`` as written (maybe percent-encoded), split at the last ``@``."""
    match = _URL.search(url)
    if match is None or "@" not in match["rest"]:
        return None, None
    userinfo = match["rest"].rpartition("@")[0]
    user, colon, password = userinfo.partition(":")
    return user or None, password if colon else None


def scrub(text: str, url: str) -> str:
    """``text`` with every URL redacted and ``url``'s password removed wherever it appears, in every spelling.

    Libraries quote what they failed on in their own ways (the URL, the decoded password, a percent-encoded one), so
    the password is removed as written, decoded and encoded. The user name is not a secret, but it is removed too
    when it stands as a word of its own. Secrets shorter than ``_ANYWHERE`` characters are also removed only where
    they stand as words: a one-letter name or password must not turn "refused" into "ref***sed".
    """
    text = redact_text(text)
    user, password = url_credentials(url)
    secrets = [(form, len(form) >= _ANYWHERE) for form in _spellings(password)]
    secrets += [(form, False) for form in _spellings(user)]
    for form, anywhere in sorted(secrets, key=lambda secret: len(secret[0]), reverse=True):
        if anywhere:
            text = text.replace(form, HIDDEN)
        else:
            text = re.sub(rf"(?<!\w){re.escape(form)}(?!\w)", HIDDEN, text)
    return text


_ANYWHERE = 4


def _spellings(secret: str | None) -> set[str]:
    """``secret`` as written, percent-decoded and percent-encoded."""
    if not secret:
        return set()
    return {secret, unquote(secret), quote(unquote(secret), safe="")} - {""}
