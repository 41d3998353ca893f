"""pitwatch: a Prometheus exporter and alert-rule pack for online gaming platforms."""

__version__ = "0.1.0"
