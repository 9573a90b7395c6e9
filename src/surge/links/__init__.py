"""Links: the domain every door uses (service, repository, slugs, targets, values)."""
