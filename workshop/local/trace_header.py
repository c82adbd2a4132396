"""X-Ray trace headers as API Gateway and Lambda make them: `Root=1-<time>-<24 hex>`, then a
`Parent` of 16 hex digits and `Sampled` (LocalStack's AWS-validated test_invocation_trace_id;
DataBiosphere/azul#7582, 2025: `Root=1-691e35ba-...;Parent=63aafdacf6f663fa;Sampled=0;...`)."""

from __future__ import annotations

import secrets
import time


def new_root() -> str:
    """A new trace's Root field."""
    return f"Root=1-{int(time.time()):08x}-{secrets.token_hex(12)}"


def with_parent(trace: str) -> str:
    """`trace` with a Parent of its own and Sampled=0 where it has none, in AWS's order."""
    fields = dict(part.partition("=")[::2] for part in trace.split(";"))
    ordered = {"Root": fields.pop("Root", ""), "Parent": secrets.token_hex(8), "Sampled": "0"}
    ordered.update(fields)  # the trace's own Parent and Sampled, where it had them
    return ";".join(f"{name}={value}" for name, value in ordered.items())
