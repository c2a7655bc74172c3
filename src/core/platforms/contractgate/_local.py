"""A directory of contract YAML files, compiled once by govflow's validator and looked up by name.

Used by the local platform (``LocalPlatform(contracts=...)``) and by ``ContractGatePlatform`` in
local mode, so both validate with the very same rules.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ...errors import ConfigurationError, NotFoundError
from ...models import ValidationReport

if TYPE_CHECKING:
    from .validator import CompiledContract

CONTRACTS_ENV = "GOVFLOW_CONTRACTS"
_SUFFIXES = (".yaml", ".yml")


def version_key(version: str) -> tuple[Any, ...]:
    """Order versions like semver: numeric parts numerically, a pre-release before its release.

    Tolerant of what contracts really use (``"1.0"``, ``"v2"``, ``"1.1.0-rc.1"``); ``+build``
    metadata is ignored, as in semver.
    """
    text = version.strip().lstrip("vV").split("+", 1)[0]
    release, _, pre = text.partition("-")

    def parts(value: str) -> tuple[tuple[int, int | str], ...]:
        return tuple((0, int(p)) if p.isdigit() else (1, p) for p in re.split(r"[.]", value) if p != "")

    # (1,) sorts a release after every pre-release of the same numbers.
    return (parts(release), (0, parts(pre)) if pre else (1,))


@dataclass(frozen=True)
class LocalContract:
    """One compiled contract file."""

    name: str
    version: str
    path: Path
    digest: str
    compiled: CompiledContract = field(repr=False)


class LocalContracts:
    """Contract YAML files (a directory, searched recursively, or single files), compiled once.

    - ``contract_id`` is the contract's ``name``; ``"name@1.1.0"`` pins a version.
    - Several files may hold versions of one contract (their ``version`` fields differ);
      ``version=None`` picks the highest, compared like semver (``1.10`` > ``1.9``).
    - A file's stem is an alias of that file (its name *and* version) when no contract is
      named like it: ``hero_events_v1.0.0`` is ``hero_events@1.0.0``.
    - Every file is compiled when loaded, so a bad contract fails at configuration, not in a
      run; two files with the same name and version are a ConfigurationError.
    - ``strict=True`` (the validator's default) refuses unknown keys, so a misspelt
      ``requried`` is an error naming the file and line; ``strict=False`` ignores them, as the
      gateway does.
    """

    def __init__(
        self, paths: str | Path | Sequence[str | Path], *, strict: bool = True, platform: str = "local"
    ) -> None:
        if isinstance(paths, (str, Path)):
            paths = [paths]
        self.paths = [Path(p).expanduser() for p in paths]
        self.strict = strict
        self.platform = platform
        self._by_name: dict[str, dict[str, LocalContract]] = {}
        self._aliases: dict[str, LocalContract] = {}
        self.reload()

    @classmethod
    def from_env(cls, *, platform: str = "local") -> LocalContracts | None:
        """From ``GOVFLOW_CONTRACTS`` (paths separated by ``os.pathsep``), or None when unset."""
        value = os.environ.get(CONTRACTS_ENV, "").strip()
        if not value:
            return None
        return cls([p for p in value.split(os.pathsep) if p.strip()], platform=platform)

    @classmethod
    def coerce(
        cls, contracts: str | Path | Sequence[str | Path] | LocalContracts | None, *, platform: str = "local"
    ) -> LocalContracts | None:
        """``contracts`` as given, else ``GOVFLOW_CONTRACTS``, else None."""
        if isinstance(contracts, LocalContracts):
            return contracts
        if contracts is None:
            return cls.from_env(platform=platform)
        return cls(contracts, platform=platform)

    def __repr__(self) -> str:
        return f"LocalContracts({[str(p) for p in self.paths]!r}, contracts={sorted(self._by_name)!r})"

    # --- loading -------------------------------------------------------------------------------

    def reload(self) -> None:
        """Read and compile every file again (after the files changed)."""
        from .validator import compile_contract  # the validator loads only when contracts are used

        by_name: dict[str, dict[str, LocalContract]] = {}
        loaded: list[LocalContract] = []
        for path in self._files():
            text = path.read_text(encoding="utf-8")
            compiled = compile_contract(text, source=str(path), strict=self.strict)
            entry = LocalContract(
                name=compiled.name,
                version=compiled.version,
                path=path,
                digest="sha256:" + hashlib.sha256(text.encode()).hexdigest(),
                compiled=compiled,
            )
            versions = by_name.setdefault(entry.name, {})
            if entry.version in versions:
                raise ConfigurationError(
                    f"contract {entry.name!r} version {entry.version!r} is defined twice: "
                    f"{versions[entry.version].path} and {path}; give one of them another version",
                    platform=self.platform,
                )
            versions[entry.version] = entry
            loaded.append(entry)
        stems: dict[str, list[LocalContract]] = {}
        for entry in loaded:
            stems.setdefault(entry.path.stem, []).append(entry)
        self._aliases = {
            stem: entries[0] for stem, entries in stems.items() if len(entries) == 1 and stem not in by_name
        }
        self._by_name = by_name

    def _files(self) -> list[Path]:
        files: list[Path] = []
        for path in self.paths:
            if path.is_dir():
                found = sorted(p for p in path.rglob("*") if p.suffix.lower() in _SUFFIXES and p.is_file())
                if not found:
                    raise ConfigurationError(
                        f"no contract files (*.yaml, *.yml) in {path}", platform=self.platform
                    )
                files.extend(found)
            elif path.is_file():
                files.append(path)
            else:
                raise ConfigurationError(
                    f"contracts path {path} does not exist (check the argument or {CONTRACTS_ENV})",
                    platform=self.platform,
                )
        return files

    # --- lookup --------------------------------------------------------------------------------

    @property
    def names(self) -> list[str]:
        return sorted(self._by_name)

    def versions(self, name: str) -> list[str]:
        """The versions of a contract, lowest first."""
        return sorted(self._by_name.get(name, {}), key=version_key)

    def __contains__(self, contract_id: object) -> bool:
        if not isinstance(contract_id, str):
            return False
        name = contract_id.partition("@")[0]
        return name in self._by_name or name in self._aliases

    def __iter__(self) -> Iterator[LocalContract]:
        return iter([entry for name in self.names for entry in self._by_name[name].values()])

    def get(self, contract_id: str, version: str | None = None) -> LocalContract:
        """The contract ``contract_id`` (a name, a file stem, or ``name@version``) at ``version``."""
        name, _, suffix = contract_id.partition("@")
        version = version if version is not None else (suffix or None)
        if name not in self._by_name and name in self._aliases:
            alias = self._aliases[name]
            name = alias.name
            if version is None:
                return alias
        versions = self._by_name.get(name)
        if versions is None:
            known = ", ".join(self.names) or "none"
            raise NotFoundError(
                f"no local contract named {name!r} (known: {known}; loaded from "
                f"{', '.join(str(p) for p in self.paths)})",
                platform=self.platform,
            )
        if version is None:
            return versions[max(versions, key=version_key)]
        if version not in versions:
            raise NotFoundError(
                f"contract {name!r} has no version {version!r} (versions: {', '.join(self.versions(name))})",
                platform=self.platform,
            )
        return versions[version]

    def validate(
        self, contract_id: str, events: Iterable[Any], *, version: str | None = None
    ) -> tuple[ValidationReport, LocalContract]:
        """Validate ``events``: the report (``contract_id`` is the contract's name) and the contract used."""
        entry = self.get(contract_id, version)
        report = entry.compiled.report(list(events), contract_id=entry.name)
        return (
            report.model_copy(
                update={
                    "platform": self.platform,
                    "contract_id": entry.name,
                    "contract_version": entry.version,
                }
            ),
            entry,
        )


__all__ = ["CONTRACTS_ENV", "LocalContract", "LocalContracts", "version_key"]
