"""The exporter's own web security, from a ``--web.config.file`` in the Prometheus
exporter-toolkit format: TLS (:mod:`.tls`), basic auth (:mod:`.auth`), response headers and
the rate limit (:mod:`.ratelimit`), applied to every request by :mod:`.guard`, with the file
(:mod:`.config`) re-read when it changes."""
