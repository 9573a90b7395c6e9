"""Accounts: users, API keys, their limits and commands; the domain every door uses."""
