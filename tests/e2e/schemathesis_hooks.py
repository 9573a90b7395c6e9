"""Schemathesis hooks for tests/e2e/test_fuzz_api.py (loaded through SCHEMATHESIS_HOOKS).

DELETE /api/v1/links/{slug}/visits empties a link's visits; it does not remove the list, which
answers 200 with no visit after it (the link is still there). Schemathesis's use-after-free
check (ST301) takes that DELETE for the removal of the GET's resource when a stateful run chains
the two, and its per-operation switch is not applied in the stateful phase (a run with
`checks.use_after_free.enabled = false` on the path still failed on it). So the check runs as
this one, which skips that path alone: deleted links, domains, keys and webhooks still must 404.
"""

from __future__ import annotations

from typing import Any

import schemathesis
from schemathesis.specs.openapi.checks import use_after_free

EMPTIED_NOT_REMOVED = frozenset({"/api/v1/links/{slug}/visits"})


@schemathesis.check
def use_after_free_but_emptied_lists(ctx: Any, response: Any, case: Any) -> bool | None:
    if case.operation.path in EMPTIED_NOT_REMOVED:
        return None
    return use_after_free(ctx, response, case)
