"""Finding the server on the LAN: mDNS/DNS-SD announcements and the other Hearth nodes."""
