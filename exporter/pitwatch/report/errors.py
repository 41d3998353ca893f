"""The one exception ``pitwatch report`` shows a user.

Everything a user can get wrong or meet (a Prometheus that cannot be reached, answers 401 or is
no Prometheus, a range without data, an unknown incident ID) ends as a :class:`ReportError`
raised at the boundary where it was found, with a message fit to print as one line. Its text
never holds a password, token or credentials of a URL.
"""

from __future__ import annotations


class ReportError(Exception):
    """A problem to print as ``pitwatch report: <message>`` and exit 1."""
