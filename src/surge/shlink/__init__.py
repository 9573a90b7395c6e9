"""Shlink's REST API v3 (`/rest/v3/...`, `/rest/health`): a thin adapter over Surge's own
services, so that Shlink's clients work against Surge. See docs/shlink-compatibility.md."""
