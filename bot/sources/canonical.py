"""A post's URL as a key: the same post reached by two addresses (feed link, sitemap, canonical tag) is one.

Tracking parameters (`utm_*`, `fbclid`…) and the `#fragment` say nothing about which post it is;
scheme and host are case-insensitive; a default port is no port; `%E6%97%A5` and `日` are one path.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit, urlunsplit

_TRACKING = re.compile(r"^(utm_[a-z]+|fbclid|gclid|mc_[a-z]+|ref|ref_src|_ga|yclid|igshid|spm)$", re.I)


def canonical_url(url: str) -> str:
    """`url` as a key: scheme and host in lower case, no fragment, no tracking parameters, no default port."""
    parts = urlsplit(url.strip())
    host = (parts.hostname or "").lower()
    scheme = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError:
        port = None
    if port and not ((scheme == "http" and port == 80) or (scheme == "https" and port == 443)):
        host = f"{host}:{port}"
    query = urlencode([(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if not _TRACKING.match(k)])
    path = quote(unquote(parts.path or "/"), safe="/:@!$&'()*+,;=-._~")  # one spelling of the same path
    return urlunsplit((scheme, host, path, query, ""))
