"""``pitwatch demo``: a simulated gaming platform on loopback, probed by a real exporter."""
