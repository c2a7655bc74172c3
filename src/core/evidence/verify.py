"""Chain verification, shared by the ledger (stored rows) and exported JSONL files (plain dicts).

Every record is checked from its sealed body, never from the columns copied out of it: the digest
is recomputed over the RFC 8785 form of the body, then the record's place is checked (``seq`` is
the next one, ``prev`` is the previous record's digest), then the stream's head (its recorded
length and last digest) is compared with what is stored, which catches a deleted end.

Only the first broken record of each stream is reported: after one break, everything behind it is
unanchored and listing it would bury the cause. The verifier keeps O(1) state per stream, so it
streams ledgers of any size; where a break's kind depends on later records (is a "missing" record
just further down, i.e. reordered?) the draft problem is refined as those records go by.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, computed_field

from ..canonical import digest as compute_digest
from ..errors import CanonicalizationError

ProblemKind = Literal[
    "unreadable",  # the body is not JSON, not an object, or lacks stream/seq/prev
    "body_changed",  # the body no longer hashes to the digest the chain recorded for it
    "digest_changed",  # the stored digest was edited; the body still matches the chain
    "digest_mismatch",  # body and digest disagree and nothing says which one was edited
    "column_mismatch",  # an indexed column disagrees with the sealed body
    "missing",  # a seq gap: records were deleted from the middle (or start) of the stream
    "duplicate",  # the same seq twice
    "reordered",  # records out of seq order, or a link pointing at a later record
    "forged_link",  # the record hashes correctly but its prev is not the previous record's digest
    "truncated",  # the head says the chain is longer than what is stored: the end was deleted
    "head_mismatch",  # the head's digest or length disagrees with the stored chain otherwise
]

# The format marker of the first line of an export: it carries the stream heads, so a file whose
# last records were cut off does not verify.
EXPORT_TYPE = "govflow.evidence.export"

Head = tuple[int, "str | None"]


class Problem(BaseModel):
    """The first broken record of one stream."""

    model_config = ConfigDict(frozen=True)

    stream: str | None
    seq: int | None = None
    kind: ProblemKind
    message: str
    digest: str | None = None
    where: str | None = None

    def __str__(self) -> str:
        return self.message


class VerifyReport(BaseModel):
    """What a verification checked and the first problem it found in each stream."""

    model_config = ConfigDict(frozen=True)

    streams_checked: int
    records_checked: int
    problems: list[Problem] = []
    notes: list[str] = []

    @computed_field  # type: ignore[prop-decorator]
    @property
    def ok(self) -> bool:
        return not self.problems

    def summary(self) -> str:
        """A few human lines, for the CLI and for assertion messages."""
        records = f"{self.records_checked} record{'' if self.records_checked == 1 else 's'}"
        streams = f"{self.streams_checked} stream{'' if self.streams_checked == 1 else 's'}"
        state = "chain intact" if self.ok else f"{len(self.problems)} broken"
        head = f"{records} in {streams}: {state}"
        return "\n".join([head, *(f"- [{p.kind}] {p.message}" for p in self.problems), *self.notes])


@dataclass
class Entry:
    """One record as found in storage: its parsed body and the digest stored beside it."""

    body: dict[str, Any] | None
    claimed: str | None
    where: str
    error: str | None = None
    # The ledger's indexed columns (None for exported files, which have none).
    columns: Mapping[str, Any] | None = None


# Indexed column -> how to read the same value from a sealed body.
_COLUMN_SOURCES: dict[str, tuple[str, ...]] = {
    "stream": ("stream",),
    "prev": ("prev",),
    "event": ("event",),
    "outcome": ("outcome",),
    "run_id": ("context", "run_id"),
    "pipeline": ("context", "pipeline"),
    "recorded_at": ("recorded_at",),
}


def _short(value: str | None) -> str:
    if value is None:
        return "nothing"
    return value[:19] + "…" if len(value) > 20 else value


def _pluck(body: Mapping[str, Any], path: tuple[str, ...]) -> Any:
    value: Any = body
    for key in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


def body_problem(body: Any) -> str | None:
    """Why a parsed body cannot take part in a chain, or None."""
    if not isinstance(body, dict):
        return f"expected a JSON object, found {type(body).__name__}"
    if not isinstance(body.get("stream"), str):
        return "it has no 'stream' string"
    seq = body.get("seq")
    if not isinstance(seq, int) or isinstance(seq, bool) or seq < 1:
        return "it has no positive integer 'seq'"
    if not (body.get("prev") is None or isinstance(body.get("prev"), str)):
        return "its 'prev' is neither a digest string nor null"
    return None


@dataclass
class _Draft:
    seq: int | None
    kind: ProblemKind
    message: str
    digest: str | None = None
    where: str | None = None
    # Refinements that later records can still decide.
    awaiting_successor: tuple[str, str] | None = None  # (stored digest, recomputed digest)
    later_seqs: range | None = None  # a "missing" seq that may just come later (reordered)
    later_digest: str | None = None  # a link target that may be a later record (reordered)
    ref: str = ""
    found: int | None = None  # the seq found where a missing one belonged


@dataclass
class _StreamCheck:
    stream: str
    count: int = 0
    last_seq: int = 0
    last_digest: str | None = None
    draft: _Draft | None = None
    where_last: str | None = None

    def ref(self, seq: int | None) -> str:
        return f"{self.stream}#{seq}" if seq is not None else self.stream

    def feed(self, entry: Entry) -> None:
        self.count += 1
        if self.draft is not None:
            self._refine(entry)
            return
        self.draft = self._check(entry)
        if self.draft is None:
            assert entry.body is not None
            self.last_seq = entry.body["seq"]
            self.last_digest = entry.claimed
            self.where_last = entry.where

    # --- the checks, in order: readable, position, digest, columns, link ------------------

    def _check(self, entry: Entry) -> _Draft | None:
        expected = self.last_seq + 1
        body = entry.body
        reason = entry.error or body_problem(body)
        if body is None or reason is not None:
            seq = _column_seq(entry) or expected
            return _Draft(
                seq,
                "unreadable",
                f"{self.ref(seq)} ({entry.where}) cannot be read: {reason}",
                entry.claimed,
                entry.where,
            )
        # Where the record sits: the ledger's seq column (the stored order), or for a file the
        # body's own seq. A gap here is a deleted record, whatever else is wrong behind it.
        position: int = body["seq"]
        if entry.columns is not None and isinstance(entry.columns.get("seq"), int):
            position = int(entry.columns["seq"])
        if position != expected:
            return self._misplaced(entry, position, expected)
        ref = self.ref(position)
        try:
            recomputed = compute_digest(body)
        except CanonicalizationError as exc:
            return _Draft(
                position,
                "unreadable",
                f"{ref} ({entry.where}) cannot be hashed: {exc}",
                entry.claimed,
                entry.where,
            )
        if recomputed != entry.claimed:
            return _Draft(
                position,
                "digest_mismatch",
                f"{ref}'s body hashes to {_short(recomputed)}, not to its stored digest "
                f"{_short(entry.claimed)}: the body or the digest was changed",
                entry.claimed,
                entry.where,
                awaiting_successor=(entry.claimed or "", recomputed),
                ref=ref,
            )
        if entry.columns is not None:
            if body["seq"] != position:
                return _Draft(
                    position,
                    "reordered",
                    f"the record stored as {ref} was sealed as #{body['seq']}: its seq column "
                    "was changed, records were reordered",
                    entry.claimed,
                    entry.where,
                )
            for column, path in _COLUMN_SOURCES.items():
                if column not in entry.columns:
                    continue
                sealed = _pluck(body, path)
                if entry.columns[column] != sealed:
                    return _Draft(
                        position,
                        "column_mismatch",
                        f"{ref}: the indexed column {column!r} holds {entry.columns[column]!r} but "
                        f"the sealed body says {sealed!r}; the column was edited",
                        entry.claimed,
                        entry.where,
                    )
        prev = body.get("prev")
        if prev != self.last_digest:
            if self.last_seq == 0:
                message = (
                    f"{ref} is the first record but links to {_short(prev)}: records before it "
                    "were removed and renumbered, or its link was forged"
                )
            else:
                message = (
                    f"{ref}'s digest checks out but its prev {_short(prev)} is not the digest of "
                    f"#{self.last_seq} ({_short(self.last_digest)}): its link was forged, or "
                    f"#{self.last_seq} was rewritten with a recomputed digest"
                )
            return _Draft(
                position,
                "forged_link",
                message,
                entry.claimed,
                entry.where,
                later_digest=prev,
                ref=ref,
            )
        return None

    def _misplaced(self, entry: Entry, seq: int, expected: int) -> _Draft:
        if seq > expected:
            gap = f"#{expected}" if seq == expected + 1 else f"#{expected}..#{seq - 1}"
            after = (
                f"jumps from #{self.last_seq} to #{seq}" if self.last_seq else f"starts at #{seq}"
            )
            verb = "is" if seq == expected + 1 else "are"
            return _Draft(
                expected,
                "missing",
                f"{self.ref(expected)} is missing: the chain {after}, so {gap} {verb} gone",
                None,
                entry.where,
                later_seqs=range(expected, seq),
                ref=self.ref(expected),
                found=seq,
            )
        if seq == self.last_seq:
            return _Draft(
                seq,
                "duplicate",
                f"{self.ref(seq)} appears twice ({self.where_last} and {entry.where})",
                entry.claimed,
                entry.where,
            )
        return _Draft(
            seq,
            "reordered",
            f"{self.ref(seq)} appears after #{self.last_seq} ({entry.where}): records were reordered",
            entry.claimed,
            entry.where,
        )

    # --- refinement by later records -----------------------------------------------------

    def _refine(self, entry: Entry) -> None:
        draft = self.draft
        assert draft is not None
        body = entry.body if entry.error is None and body_problem(entry.body) is None else None
        if draft.awaiting_successor is not None:
            successor_prev = body.get("prev") if body is not None else None
            self._decide_digest(draft, successor_prev, "the next record's link")
        if draft.later_seqs is not None and body is not None and body["seq"] in draft.later_seqs:
            draft.kind = "reordered"
            draft.message = (
                f"{self.ref(draft.found)} sits where {draft.ref} belongs, and #{body['seq']} comes "
                f"later ({entry.where}): records were reordered"
            )
            draft.later_seqs = None
        if (
            draft.later_digest is not None
            and entry.claimed == draft.later_digest
            and body is not None
        ):
            draft.kind = "reordered"
            draft.message = (
                f"{draft.ref} links to {self.ref(body['seq'])}, which comes after it: records were "
                "reordered"
            )
            draft.later_digest = None

    def _decide_digest(self, draft: _Draft, witness: str | None, what: str) -> None:
        stored, recomputed = draft.awaiting_successor or ("", "")
        draft.awaiting_successor = None
        if witness is None:
            return
        if witness == stored:
            draft.kind = "body_changed"
            draft.message = (
                f"{draft.ref} was changed after it was sealed: its body hashes to "
                f"{_short(recomputed)}, but {what} still holds its original digest {_short(stored)}"
            )
        elif witness == recomputed:
            draft.kind = "digest_changed"
            draft.message = (
                f"{draft.ref}'s stored digest {_short(stored)} was edited: its body hashes to "
                f"{_short(recomputed)}, which is what {what} holds"
            )

    def finish(self, head: Head | None, head_required: bool) -> Problem | None:
        draft = self.draft
        if draft is not None and draft.awaiting_successor is not None and head is not None:
            if head[0] == draft.seq:
                self._decide_digest(draft, head[1], "the stream head")
            else:
                draft.awaiting_successor = None
        if draft is None:
            draft = self._check_head(head, head_required)
        if draft is None:
            return None
        return Problem(
            stream=self.stream,
            seq=draft.seq,
            kind=draft.kind,
            message=draft.message,
            digest=draft.digest,
            where=draft.where,
        )

    def _check_head(self, head: Head | None, head_required: bool) -> _Draft | None:
        if head is None:
            if head_required and self.count:
                return _Draft(
                    None,
                    "head_mismatch",
                    f"{self.stream} has {self.count} records but no head row: the head was "
                    "deleted, so a deleted end of the chain could go unnoticed",
                )
            return None
        head_seq, head_digest = head
        if head_seq > self.last_seq:
            single = head_seq == self.last_seq + 1
            gone = f"#{head_seq} was" if single else f"#{self.last_seq + 1}..#{head_seq} were"
            stored = f"ends at #{self.last_seq}" if self.last_seq else "has no records"
            return _Draft(
                self.last_seq + 1,
                "truncated",
                f"{self.stream} {stored} but its head says the chain has {head_seq} records: "
                f"{gone} deleted from the end",
            )
        if head_seq < self.last_seq:
            return _Draft(
                head_seq + 1,
                "head_mismatch",
                f"{self.stream} has records up to #{self.last_seq} but its head says {head_seq}: "
                "records were added outside the ledger, or the head was rolled back",
            )
        if head_digest != self.last_digest:
            return _Draft(
                self.last_seq,
                "head_mismatch",
                f"{self.ref(self.last_seq)} has digest {_short(self.last_digest)} but the stream "
                f"head recorded {_short(head_digest)}: the last record was replaced",
                self.last_digest,
                self.where_last,
            )
        return None


def _column_seq(entry: Entry) -> int | None:
    if entry.columns is not None and isinstance(entry.columns.get("seq"), int):
        return int(entry.columns["seq"])
    if isinstance(entry.body, dict) and isinstance(entry.body.get("seq"), int):
        return int(entry.body["seq"])
    return None


class ChainVerifier:
    """Feed records stream by stream (streams may interleave, each in its stored order)."""

    def __init__(
        self, heads: Mapping[str, Head] | None = None, *, head_required: bool = False
    ) -> None:
        self.heads: dict[str, Head] = dict(heads or {})
        self.head_required = head_required
        self._streams: dict[str, _StreamCheck] = {}
        self._orphans: list[Problem] = []
        self.notes: list[str] = []

    def feed(self, stream: str, entry: Entry) -> None:
        check = self._streams.get(stream)
        if check is None:
            check = self._streams[stream] = _StreamCheck(stream)
        check.feed(entry)

    def orphan(self, where: str, reason: str) -> None:
        """A line that is not attributable to any stream."""
        self._orphans.append(
            Problem(
                stream=None,
                kind="unreadable",
                message=f"{where} cannot be read: {reason}",
                where=where,
            )
        )

    def report(self) -> VerifyReport:
        for stream in self.heads:
            if stream not in self._streams:
                self._streams[stream] = _StreamCheck(stream)
        problems = list(self._orphans)
        for name in sorted(self._streams):
            problem = self._streams[name].finish(self.heads.get(name), self.head_required)
            if problem is not None:
                problems.append(problem)
        return VerifyReport(
            streams_checked=len(self._streams),
            records_checked=sum(check.count for check in self._streams.values())
            + len(self._orphans),
            problems=problems,
            notes=self.notes,
        )


def entry_from_record(record: Mapping[str, Any], where: str) -> Entry:
    """An exported record (the sealed body plus its ``digest``) as an :class:`Entry`."""
    body = {key: value for key, value in record.items() if key != "digest"}
    claimed = record.get("digest")
    return Entry(body=body, claimed=claimed if isinstance(claimed, str) else None, where=where)


def verify_records(
    records: Iterable[Mapping[str, Any]], *, stream: str | None = None
) -> VerifyReport:
    """Verify records given as plain dicts, e.g. the lines of an export, with no database.

    Records are the sealed bodies with their ``digest``; they may interleave streams but each
    stream must be in its stored order. An export's first line (``"type": "govflow.evidence.export"``)
    carries the stream heads: with it, a file whose last records were removed fails verification;
    without it, a cut-off end cannot be noticed and the report says so in ``notes``.
    With ``stream``, only that stream is checked.
    """
    items = ((f"record {index}", record) for index, record in enumerate(records, start=1))
    return verify_items(items, stream=stream)


def verify_items(items: Iterable[tuple[str, object]], *, stream: str | None = None) -> VerifyReport:
    """:func:`verify_records` over ``(where, parsed JSON)`` pairs; ``where`` names it in problems."""
    verifier = ChainVerifier()
    saw_header = False
    for where, record in items:
        if isinstance(record, Mapping) and record.get("type") == EXPORT_TYPE:
            saw_header = True
            heads = _heads_from_header(record)
            if stream is not None:
                heads = {name: head for name, head in heads.items() if name == stream}
            verifier.heads.update(heads)
            continue
        if isinstance(record, ValueError):
            verifier.orphan(where, f"it is not JSON ({record})")
            continue
        if not isinstance(record, Mapping):
            verifier.orphan(where, f"expected a JSON object, found {type(record).__name__}")
            continue
        name = record.get("stream")
        if not isinstance(name, str):
            verifier.orphan(where, "it has no 'stream' string")
            continue
        if stream is None or name == stream:
            verifier.feed(name, entry_from_record(record, where))
    if not saw_header:
        verifier.notes.append(
            "no export header with stream heads: records deleted from the end of a stream "
            "cannot be detected"
        )
    return verifier.report()


def _heads_from_header(header: Mapping[str, Any]) -> dict[str, Head]:
    heads: dict[str, Head] = {}
    raw = header.get("heads")
    if isinstance(raw, Mapping):
        for stream, head in raw.items():
            if isinstance(head, Mapping) and isinstance(head.get("seq"), int):
                value = head.get("digest")
                heads[str(stream)] = (int(head["seq"]), value if isinstance(value, str) else None)
    return heads


__all__ = [
    "EXPORT_TYPE",
    "ChainVerifier",
    "Entry",
    "Problem",
    "ProblemKind",
    "VerifyReport",
    "entry_from_record",
    "verify_items",
    "verify_records",
]
