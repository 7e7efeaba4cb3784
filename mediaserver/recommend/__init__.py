"""Recommendations: what each person might like to watch next, and why."""
