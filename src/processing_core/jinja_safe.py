"""JSON text that Airflow's template rendering leaves as it is: for values the DAG file puts
into templated fields, and for what a template filter renders. Stdlib only."""

from __future__ import annotations

import json
import re
from typing import Any

_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')


def jinja_safe_json(value: Any) -> str:
    """JSON text that Airflow's template rendering leaves as it is.

    Every Jinja marker ({{, {%, {#) starts with `{`; outside strings JSON's `{` is followed
    by `"` or `}`, and inside strings it is written as the escape \\u007b, which any JSON
    parser reads back as `{`. Written on one line: no newline for Jinja to trim.
    """
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return _JSON_STRING.sub(lambda found: found.group(0).replace("{", "\\u007b"), text)
