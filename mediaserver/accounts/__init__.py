"""Accounts: users, passwords and the credentials that let people and devices in."""
