"""Several proxies, one network: the player directory they share in Redis (``[cluster]``)."""
