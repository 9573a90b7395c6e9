"""The redirect hot path. Never imports links or analytics."""
