"""The redactor and the logging filter."""

from __future__ import annotations

import logging
from urllib.parse import quote, quote_plus

import pytest
from pydantic import SecretStr

from govflow.core.redaction import MASK, RedactingFilter, Redactor, install_log_redaction

SECRET = "s3cr3t+value/with=chars"


def test_registered_secrets_are_masked_in_all_their_encodings() -> None:
    redactor = Redactor([SecretStr(SECRET)])
    for form in (SECRET, quote(SECRET, safe=""), quote_plus(SECRET)):
        assert redactor.redact(f"before {form} after") == f"before {MASK} after"
    assert SECRET in redactor
    assert redactor.redact("nothing to hide") == "nothing to hide"


def test_longest_secret_wins_and_short_values_are_ignored() -> None:
    redactor = Redactor(["abcd", "abcdefgh", "ab", None, "   "])
    assert redactor.redact("abcdefgh abcd ab") == f"{MASK} {MASK} ab"


def test_sensitive_query_parameters_and_url_passwords() -> None:
    redactor = Redactor()
    url = (
        "https://bucket.s3.amazonaws.com/e.zip?X-Amz-Credential=AKIA%2F1&X-Amz-Signature=deadbeef"
        "&page=2&api_key=k1&token=t1"
    )
    assert redactor.redact_url(url) == (
        f"https://bucket.s3.amazonaws.com/e.zip?X-Amz-Credential={MASK}&X-Amz-Signature={MASK}"
        f"&page=2&api_key={MASK}&token={MASK}"
    )
    assert redactor.redact("postgresql://ledger:hunter22@db:5432/x") == f"postgresql://ledger:{MASK}@db:5432/x"
    assert redactor.redact("http://host:8080/path") == "http://host:8080/path"


def test_nested_structures() -> None:
    redactor = Redactor([SECRET])
    value = {
        "detail": f"key {SECRET} rejected",
        "client_secret": "anything",
        "Authorization": "Bearer x",
        "items": [SECRET, {"token": "t", "ok": 1}, (SECRET, 2)],
        SECRET: "as a key",
        "n": 3,
        "none": None,
    }
    assert redactor.redact_value(value) == {
        "detail": f"key {MASK} rejected",
        "client_secret": MASK,
        "Authorization": MASK,
        "items": [MASK, {"token": MASK, "ok": 1}, (MASK, 2)],
        MASK: "as a key",
        "n": 3,
        "none": None,
    }


def test_headers_are_masked_by_name() -> None:
    redactor = Redactor([SECRET])
    headers = {
        "Authorization": "Bearer abc",
        "x-api-key": "k",
        "Cookie": "a=b",
        "DPoP": "eyJ...",
        "Proxy-Authorization": "Basic x",
        "X-Trace": f"id-{SECRET}",
        "Accept": "application/json",
    }
    assert redactor.redact_headers(headers) == {
        "Authorization": MASK,
        "x-api-key": MASK,
        "Cookie": MASK,
        "DPoP": MASK,
        "Proxy-Authorization": MASK,
        "X-Trace": f"id-{MASK}",
        "Accept": "application/json",
    }


def test_parent_learns_child_secrets_and_size_is_bounded() -> None:
    parent = Redactor(max_secrets=8)
    child = Redactor(["child-secret-1"], parent=parent)
    assert "child-secret-1" in parent
    child.add("child-secret-2")
    assert parent.redact("child-secret-2") == MASK
    for i in range(20):
        parent.add(f"rotating-token-{i:02d}")
    assert len(parent) <= 8
    assert parent.redact("rotating-token-19") == MASK


def test_logging_filter_redacts_message_args_and_traceback(caplog: pytest.LogCaptureFixture) -> None:
    redactor = Redactor([SECRET])
    logger = logging.getLogger("govflow.test.redaction")
    redacting = RedactingFilter(redactor)
    logger.addFilter(redacting)
    try:
        with caplog.at_level(logging.DEBUG, logger="govflow.test.redaction"):
            logger.debug("calling %s with %r", f"https://h/x?q={SECRET}", {"key": SECRET})
            try:
                raise ValueError(f"bad {SECRET}")
            except ValueError:
                logger.exception("failed")
    finally:
        logger.removeFilter(redacting)
    assert SECRET not in caplog.text
    assert f"https://h/x?q={MASK}" in caplog.text
    assert f"ValueError: bad {MASK}" in caplog.text


def test_install_log_redaction_is_idempotent() -> None:
    install_log_redaction("govflow.test.once")
    install_log_redaction("govflow.test.once")
    filters = [f for f in logging.getLogger("govflow.test.once").filters if isinstance(f, RedactingFilter)]
    assert len(filters) == 1


def test_bounded_redactor_forgets_rotated_tokens_but_never_its_own_secrets() -> None:
    from govflow.core.redaction import Redactor

    redactor = Redactor(["static-api-key-123456"], max_secrets=8)
    for n in range(50):
        redactor.add(f"rotated-token-{n:04d}-abcdef")
    assert len(redactor) <= 8 + 4  # the pinned key and its variants stay on top of the cap
    assert "static-api-key-123456" not in redactor.redact("key=static-api-key-123456")
    assert "rotated-token-0049-abcdef" not in redactor.redact("rotated-token-0049-abcdef")
    assert "rotated-token-0000-abcdef" in redactor.redact("rotated-token-0000-abcdef")
