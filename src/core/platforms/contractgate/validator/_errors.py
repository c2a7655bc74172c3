"""The one error a contract can raise: :class:`ContractError`, pointing at the file and line."""

from __future__ import annotations

from typing import Literal

from ....errors import ConfigurationError

Stage = Literal["parse", "compile"]


class ContractError(ConfigurationError):
    """A contract is invalid. ``str(error)`` is ``"file:line: message"``.

    - ``path`` / ``line``: where (``line`` is 1-based, None when the YAML has no usable mark);
    - ``reason``: the message alone, without the location;
    - ``stage``: ``"parse"`` for what the gateway rejects when a version is created (YAML, unknown
      types, missing keys), ``"compile"`` for what it rejects only on first use (a regex that does
      not compile, a transform on a non-string field), as spec section 5 describes.
    """

    def __init__(
        self,
        message: str,
        *,
        path: str | None = None,
        line: int | None = None,
        stage: Stage = "parse",
    ) -> None:
        where = path or "<contract>"
        if line is not None:
            where = f"{where}:{line}"
        super().__init__(f"{where}: {message}", platform="contractgate")
        self.path = path
        self.line = line
        self.reason = message
        self.stage: Stage = stage

    def __str__(self) -> str:
        # The location already says which file; the "[contractgate] " prefix would only add noise.
        return self.message


__all__ = ["ContractError"]
