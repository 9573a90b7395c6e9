"""Webhooks: endpoints users register, the durable outbox of events, their signed delivery."""
