"""The embedded local platform: YAML policy rules, approvals in SQL and the evidence ledger.

::

    from govflow.core.platforms.local import LocalPlatform

    async with LocalPlatform("policy.yaml") as platform:
        decision = await platform.gate(context, request)
"""

from .approvals import ApprovalStore
from .platform import LocalPlatform
from .policy import Mismatch, Policy, PolicyDecision, PolicyResult, Rule, RuleTrace, parse_duration

__all__ = [
    "ApprovalStore",
    "LocalPlatform",
    "Mismatch",
    "Policy",
    "PolicyDecision",
    "PolicyResult",
    "Rule",
    "RuleTrace",
    "parse_duration",
]
