"""The api service: links, API keys and tags. routes → service → repository."""
