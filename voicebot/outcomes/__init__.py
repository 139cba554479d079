"""Outcome webhooks: each call's outcome, signed and delivered to the wallet backend."""
