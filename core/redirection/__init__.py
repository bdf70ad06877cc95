"""Manufacturer redirection services (httpx clients) and the outbox worker that drives them."""

# The service names the catalogue's `redirection` field may use; config.FACTORIES has one client each.
SERVICES = ("yealink_rps", "snom_sraps", "gigaset_grape", "polycom_ztp", "fanvil_fdps")
