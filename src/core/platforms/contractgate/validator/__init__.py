"""ContractGate's validator, with the gateway's semantics: compile a contract once, validate many.

```python
from govflow.core.platforms.contractgate.validator import compile_contract, load_contract

compiled = load_contract("contracts/user_events.yaml")      # ContractError: file:line: what to fix
result = compiled.validate({"user_id": "u_1", "event_type": "delete"})
result.passed, [(v.field, v.kind, v.message) for v in result.violations]
report = compiled.report(events)                            # govflow ValidationReport
stored = apply_transforms(compiled, event)                  # the gateway's transformed_event
```

Verdicts and message texts are the gateway's (Rust ``validation.rs``; spec sections 7-10),
including where the official SDK's local validator differs (section 9): ``date`` fields,
``null_as_absent``, ``quality`` rules, UTF-8 byte lengths, Rust regex semantics (``$``, no
look-around), JSON equality in ``enum`` (``1 != 1.0 != true``), Rust number formatting.
"""

from ._compile import CompiledContract, compile_contract, load_contract
from ._contract import (
    Contract,
    EgressLeakageMode,
    Envelope,
    FieldDefinition,
    FieldType,
    GlossaryEntry,
    MaskStyle,
    MetricDefinition,
    MetricType,
    QualityRule,
    QualityRuleType,
    Transform,
    TransformKind,
    parse_contract,
)
from ._errors import ContractError
from ._messages import VIOLATION_KINDS, ViolationKind
from ._regex import RustRegexError, compile_rust_regex
from ._transforms import apply_egress_leakage, apply_transforms, format_preserving_mask
from ._validate import CgViolation, EventResult

__all__ = [
    "VIOLATION_KINDS",
    "CgViolation",
    "CompiledContract",
    "Contract",
    "ContractError",
    "EgressLeakageMode",
    "Envelope",
    "EventResult",
    "FieldDefinition",
    "FieldType",
    "GlossaryEntry",
    "MaskStyle",
    "MetricDefinition",
    "MetricType",
    "QualityRule",
    "QualityRuleType",
    "RustRegexError",
    "Transform",
    "TransformKind",
    "ViolationKind",
    "apply_egress_leakage",
    "apply_transforms",
    "compile_contract",
    "compile_rust_regex",
    "format_preserving_mask",
    "load_contract",
    "parse_contract",
]
