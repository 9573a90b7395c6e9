"""Plumbing every service uses. Imports nothing else of surge."""
