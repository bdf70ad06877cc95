"""Manufacturer redirection services (httpx clients) and the outbox worker that drives them."""
