"""Where a link may point, beyond the URL rule of the schema (which already refuses literal IP
addresses, so `http://169.254.169.254/`, `http://10.0.0.5/admin` and `http://2130706433/` never
get here): not back at this Surge, not at a local host name (a short link to
`http://printer.local/` makes people's browsers, or a link unfurler on the operator's network,
reach places the public should not), and not at a host on the operator's blocklist.

Nothing is resolved at request time: DNS can say anything later, and a lookup per create would
be a way to make Surge wait.
"""

from __future__ import annotations

from urllib.parse import unquote, urlsplit

LOCAL_SUFFIXES = (".localhost", ".local", ".internal", ".home.arpa", ".localdomain")


def host_key(host: str | None) -> str:
    """A host as a browser resolves it: percent-decoded, IDNA-mapped, lower case, no final dot."""
    host = unquote(host or "")
    try:
        host = host.encode("idna").decode("ascii")
    except UnicodeError:
        pass
    return host.lower().rstrip(".")


def target_problem(url: str, *, public_host: str, blocked: list[str]) -> str | None:
    """Why a link may not point at `url`, or None when it may."""
    host = host_key(urlsplit(url).hostname)
    if host == host_key(public_host):
        return "a link may not point back at this Surge's short domain"
    if host.endswith(LOCAL_SUFFIXES):
        return "a link may not point at a local host name"
    for entry in blocked:
        if host == entry or host.endswith("." + entry):
            return f"links to {entry} are not allowed here"
    return None
