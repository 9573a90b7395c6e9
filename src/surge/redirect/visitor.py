"""Privacy-safe visitor ids: a daily-salted hash of client IP + user agent; the IP is never kept."""

from __future__ import annotations

import hashlib
import hmac

# The headers of a visitor who asks not to be tracked (Global Privacy Control, Do Not Track):
# with a value of 1, a click or an orphan visit keeps nothing of them (redirect.app.private_row).
PRIVATE = frozenset({b"sec-gpc", b"dnt"})


class VisitorHasher:
    def __init__(self, secret: str) -> None:
        self._secret = secret.encode()
        self._day = -1
        self._salt = b""

    def visitor_id(self, ip: str, user_agent: str, now: float) -> str:
        day = int(now // 86_400)
        if day != self._day:  # the salt rotates at UTC midnight; yesterday's ids cannot be joined
            self._salt = hmac.digest(self._secret, str(day).encode(), "sha256")[:32]
            self._day = day
        data = f"{ip}\x00{user_agent}".encode()
        return hashlib.blake2b(data, key=self._salt, digest_size=16).hexdigest()
