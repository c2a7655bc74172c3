"""The base the platform clients' response models share.

A response model accepts fields it does not know (``extra="allow"``: a platform may add fields at
any time), keeps the decoded body verbatim in ``raw`` (never dumped), and treats an explicit null
where the SDK has a non-null default as that default. :meth:`ResponseModel.from_body` turns
anything else than a valid JSON object into a ``TransportError(code="unexpected_response")``
naming the platform, without echoing the body (which may carry data that is not ours to log).

Each platform subclasses it once, setting :attr:`~ResponseModel.platform` (the error's
``platform``), :attr:`~ResponseModel.platform_name` (for messages) and, where it has its own,
:attr:`~ResponseModel.transport_error`; its ``model_config`` adds to this one (pydantic merges).
"""

from __future__ import annotations

from typing import Any, ClassVar, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from ..errors import TransportError

_R = TypeVar("_R", bound="ResponseModel")


class ResponseModel(BaseModel):
    """Base of a platform's response models: unknown fields kept, explicit nulls mean the default."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    platform: ClassVar[str] = ""
    """The ``platform`` of the errors raised (``"velerian"``...)."""
    platform_name: ClassVar[str] = "the platform"
    """The platform as messages name it (``"Velerian"``...)."""
    transport_error: ClassVar[type[TransportError]] = TransportError
    """The error class raised for a body that is not a valid model."""

    raw: Any = Field(default=None, exclude=True, repr=False, description="the body, verbatim")

    @model_validator(mode="before")
    @classmethod
    def _null_means_default(cls, data: Any) -> Any:
        # An explicit null where the SDK has a non-null default (a list, {}, 0, "") gets that
        # default instead of failing validation.
        if not isinstance(data, dict):
            return data
        fields = cls.model_fields
        return {
            key: value
            for key, value in data.items()
            if not (
                value is None
                and key in fields
                and not fields[key].is_required()
                and (fields[key].default is not None or fields[key].default_factory is not None)
            )
        }

    @classmethod
    def _fields_from_body(cls, body: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
        """What to validate: the body, plus the caller's extra keyword arguments of ``from_body``.

        The base takes none (a platform whose models are given more than the body overrides this).
        """
        if extra:
            raise TypeError(f"{cls.__name__}.from_body() got unexpected keyword arguments: {', '.join(sorted(extra))}")
        return body

    @classmethod
    def from_body(cls: type[_R], body: Any, *, where: str = "", **extra: Any) -> _R:
        """Validate a decoded JSON object; anything else is a TransportError naming the route."""
        if not isinstance(body, dict):
            raise cls.transport_error(
                f"{where}: expected a JSON object for {cls.__name__}, got {type(body).__name__}",
                platform=cls.platform,
                code="unexpected_response",
            )
        try:
            return cls.model_validate({**cls._fields_from_body(body, extra), "raw": body})
        except ValidationError as exc:
            # include_input=False: a body may echo a payload, which is not ours to log.
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}"
                for e in exc.errors(include_input=False, include_url=False)
            )
            raise cls.transport_error(
                f"{where}: {cls.platform_name}'s answer is not a valid {cls.__name__} ({problems})",
                platform=cls.platform,
                code="unexpected_response",
                detail=problems,
            ) from None
