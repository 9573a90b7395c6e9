"""One TLS context for the test run's httpx clients, made once per process.

httpx loads the CA bundle for every client it makes (a `load_verify_locations` of ~140
certificates: 37 ms of CPU on a quiet machine, ~100 ms on a busy one), and the tests make
thousands: each `httpx.get(...)` is a client of its own, and the waits poll with them. Measured
in a run of tests/e2e/test_serve.py and tests/chaos/test_surge_processes.py: 767 bundles loaded,
75 s of CPU in the two workers (of ~175 s the run's tests took). The context is never changed
once made (httpx sets it up entirely in `create_ssl_context`), so sharing it changes nothing a
test sees; a client given its own context (`verify=...`) keeps it.
"""

from __future__ import annotations

import functools
import os
import ssl
from typing import Any

import httpx
from httpx._transports import default as httpx_transports

_create_ssl_context = httpx.create_ssl_context


@functools.cache
def _default_context(trust_env: bool, cafile: str | None, capath: str | None) -> ssl.SSLContext:
    return _create_ssl_context(verify=True, trust_env=trust_env)


def _shared_ssl_context(
    verify: ssl.SSLContext | str | bool = True, cert: Any = None, trust_env: bool = True
) -> ssl.SSLContext:
    if verify is True and cert is None:
        environ = os.environ.get
        return _default_context(trust_env, environ("SSL_CERT_FILE"), environ("SSL_CERT_DIR"))
    return _create_ssl_context(verify=verify, cert=cert, trust_env=trust_env)


def share_tls_contexts() -> None:
    """Every httpx transport made from now on in this process gets the shared default context."""
    httpx_transports.create_ssl_context = _shared_ssl_context  # type: ignore[assignment]
