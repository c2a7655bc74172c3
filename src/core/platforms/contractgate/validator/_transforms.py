"""PII transforms (spec section 8, the gateway's ``transform.rs``) and the egress leakage guard.

Byte-for-byte the gateway's output for a given salt:

- ``hash``: ``"hmac-sha256:" + hex(HMAC-SHA256(key=salt, msg=utf8(value)))``;
- ``mask`` with ``style: format_preserving``: each ASCII digit, upper- and lower-case letter is
  replaced by one drawn from rand 0.8's ``StdRng`` (ChaCha12) seeded with
  ``HMAC-SHA256(salt, field name)``, using ``gen_range``'s widening-multiply rejection sampling;
  every other byte stays. Reimplemented here (there is no ChaCha12 in the standard library) and
  checked against the spec's vector: ``"+1 (555) 010-9999"`` -> ``"+2 (721) 694-8142"``.

Only top-level string fields are transformed; the result's object keys are sorted at every level,
as serde_json's ``BTreeMap`` emits them.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import struct
import threading
from typing import TYPE_CHECKING, Any, Final

from ._contract import EgressLeakageMode, MaskStyle, TransformKind
from ._messages import LEAKAGE, leakage

if TYPE_CHECKING:
    from ._compile import CompiledContract
    from ._validate import CgViolation

REDACTED: Final = "<REDACTED>"
OPAQUE_MASK: Final = "****"
HASH_PREFIX: Final = "hmac-sha256:"

_MASK32: Final = 0xFFFFFFFF
_SIGMA: Final = (0x61707865, 0x3320646E, 0x79622D32, 0x6B206574)  # "expand 32-byte k"


def hmac_sha256_hex(key: bytes, message: bytes) -> str:
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def _chacha12_block(key_words: tuple[int, ...], counter: int) -> list[int]:
    # rand_chacha: 64-bit block counter in words 12-13, stream id 0 in words 14-15.
    state = [*_SIGMA, *key_words, counter & _MASK32, counter >> 32, 0, 0]
    x = list(state)

    def quarter(a: int, b: int, c: int, d: int) -> None:
        x[a] = (x[a] + x[b]) & _MASK32
        t = x[d] ^ x[a]
        x[d] = ((t << 16) | (t >> 16)) & _MASK32
        x[c] = (x[c] + x[d]) & _MASK32
        t = x[b] ^ x[c]
        x[b] = ((t << 12) | (t >> 20)) & _MASK32
        x[a] = (x[a] + x[b]) & _MASK32
        t = x[d] ^ x[a]
        x[d] = ((t << 8) | (t >> 24)) & _MASK32
        x[c] = (x[c] + x[d]) & _MASK32
        t = x[b] ^ x[c]
        x[b] = ((t << 7) | (t >> 25)) & _MASK32

    for _ in range(6):  # 12 rounds = 6 double rounds
        quarter(0, 4, 8, 12)
        quarter(1, 5, 9, 13)
        quarter(2, 6, 10, 14)
        quarter(3, 7, 11, 15)
        quarter(0, 5, 10, 15)
        quarter(1, 6, 11, 12)
        quarter(2, 7, 8, 13)
        quarter(3, 4, 9, 14)
    return [(a + b) & _MASK32 for a, b in zip(x, state, strict=True)]


class _WordStream:
    """The u32 outputs of ``StdRng::from_seed(seed)``, generated lazily and kept for reuse.

    Every mask of one (salt, field) starts the generator afresh from the same seed, so the words
    are the same each time: caching them makes repeated masks cheap.
    """

    def __init__(self, seed: bytes) -> None:
        self._key = struct.unpack("<8I", seed)
        self._words: list[int] = []
        self._lock = threading.Lock()  # shared by threads: extend block by block, in order

    def word(self, index: int) -> int:
        if index >= len(self._words):
            with self._lock:
                while index >= len(self._words):
                    self._words.extend(_chacha12_block(self._key, len(self._words) // 16))
        return self._words[index]


@functools.lru_cache(maxsize=256)
def _stream(salt: bytes, field: str) -> _WordStream:
    seed = hmac.new(salt, field.encode("utf-8", "surrogatepass"), hashlib.sha256).digest()
    return _WordStream(seed)


def format_preserving_mask(value: str, salt: bytes, field: str) -> str:
    """The gateway's ``format_preserving_mask``: same length and character class per byte."""
    stream = _stream(salt, field)
    position = 0

    def below(bound: int) -> int:
        # rand 0.8 UniformInt<i32>::sample_single: widening multiply, reject lo > zone.
        nonlocal position
        zone = ((bound << (32 - bound.bit_length())) - 1) & _MASK32
        while True:
            product = stream.word(position) * bound
            position += 1
            if product & _MASK32 <= zone:
                return product >> 32

    out = bytearray()
    for byte in value.encode("utf-8", "surrogatepass"):
        if 48 <= byte <= 57:
            out.append(48 + below(10))
        elif 65 <= byte <= 90:
            out.append(65 + below(26))
        elif 97 <= byte <= 122:
            out.append(97 + below(26))
        else:
            out.append(byte)
    return out.decode("utf-8", "surrogatepass")


def sorted_json(value: Any) -> Any:
    """A copy with every object's keys in sorted order (serde_json's BTreeMap output order)."""
    try:
        return _sorted(value)
    except RecursionError:  # deeper than serde_json parses: keep the top level sorted only
        if isinstance(value, dict):
            return {k: value[k] for k in sorted(value, key=_key_order)}
        return value


def _sorted(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _sorted(value[k]) for k in sorted(value, key=_key_order)}
    if isinstance(value, list):
        return [_sorted(v) for v in value]
    return value


def _key_order(key: Any) -> str:
    return key if isinstance(key, str) else str(key)


def apply_transforms(compiled: CompiledContract, event: Any, *, salt: bytes | None = None) -> Any:
    """The event as the gateway stores and forwards it (``transformed_event``).

    Declared transforms run on top-level string fields (a non-string or absent value is left as
    it is); under ``compliance_mode`` undeclared top-level keys are removed. Runs on passing and
    failing events alike. ``salt`` is the contract's ``pii_salt`` (default: the one given to
    ``compile_contract``, else empty, as in the playground). A non-object event comes back as is.
    """
    if not isinstance(event, dict):
        return event
    key = compiled.pii_salt if salt is None else salt
    result = dict(event)
    for name, kind, style in compiled.transforms:
        current = result.get(name)
        if not isinstance(current, str):
            continue
        if kind is TransformKind.DROP:
            del result[name]
        elif kind is TransformKind.REDACT:
            result[name] = REDACTED
        elif kind is TransformKind.HASH:
            digest = hmac_sha256_hex(key, current.encode("utf-8", "surrogatepass"))
            result[name] = HASH_PREFIX + digest
        elif style is MaskStyle.FORMAT_PRESERVING:
            result[name] = format_preserving_mask(current, key, name)
        else:
            result[name] = OPAQUE_MASK
    if compiled.compliance_mode:
        declared = compiled.declared_fields
        result = {k: v for k, v in result.items() if k in declared}
    return sorted_json(result)


def apply_egress_leakage(
    compiled: CompiledContract, transformed: Any
) -> tuple[Any, list[str], list[CgViolation]]:
    """The egress leakage guard (spec section 6.6) on an already transformed record.

    Returns ``(payload, stripped_fields, violations)``: with ``egress_leakage_mode`` ``strip`` or
    ``fail`` undeclared top-level keys are removed (sorted order, as the gateway lists them), and
    ``fail`` adds a ``leakage_violation`` per key. ``off`` returns the record untouched.
    """
    from ._validate import CgViolation

    mode = compiled.egress_leakage_mode
    if mode is EgressLeakageMode.OFF or not isinstance(transformed, dict):
        return transformed, [], []
    declared = compiled.declared_fields
    stripped = sorted((k for k in transformed if k not in declared), key=_key_order)
    if not stripped:
        return transformed, [], []
    payload = {k: v for k, v in transformed.items() if k in declared}
    names = [_key_order(k) for k in stripped]
    violations = (
        [CgViolation(name, LEAKAGE, leakage(name)) for name in names]
        if mode is EgressLeakageMode.FAIL
        else []
    )
    return payload, names, violations


__all__ = [
    "HASH_PREFIX",
    "OPAQUE_MASK",
    "REDACTED",
    "apply_egress_leakage",
    "apply_transforms",
    "format_preserving_mask",
    "hmac_sha256_hex",
    "sorted_json",
]
