"""Outbound network requests: every URL the server fetches goes through ``net.fetch``."""
