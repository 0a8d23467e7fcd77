"""The HTTP gateway: logins, users, and one checked JSON API over the services."""
