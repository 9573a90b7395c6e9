"""Short domains: the default one and those an admin adds, with their redirects."""
