"""A package archive read safely, its checksum checked, its AppD file found. Bytes in, facts out.

An application package is a zip (a CSAR-like layout, ETSI GS NFV-SOL 004): either
`TOSCA-Metadata/TOSCA.meta` names the AppD with `Entry-Definitions: <path>`, or the archive has
exactly one top-level `*.yaml`, `*.yml` or `*.json` file, the AppD.

Archives come from clients, so nothing in one is trusted: the entry count and the uncompressed
size are bounded (by what the central directory declares, and again while inflating, since a
declaration can lie), absolute paths, `..` segments, drive letters, NUL bytes, symbolic links,
encrypted and duplicate entries are refused, and every entry is read to its end so its CRC is
checked. Nothing is ever written anywhere: the archive stays bytes in memory.
"""

from __future__ import annotations

import hashlib
import io
import re
import zipfile
import zlib
from dataclasses import dataclass
from typing import Literal

from mec_orchestrator.model.apppackage import OnboardedReason

KIB = 1024
MIB = 1024 * KIB

TOSCA_META = "TOSCA-Metadata/TOSCA.meta"
APPD_SUFFIXES = (".yaml", ".yml", ".json")
ALGORITHMS = {"SHA-256": "sha256", "SHA-512": "sha512"}
"""The checksum algorithms accepted (NFV-SOL 004 names) and their hashlib names."""

_READ_CHUNK = 64 * KIB
_DRIVE = re.compile(r"^[A-Za-z]:")
_S_IFMT = 0o170000
_S_IFLNK = 0o120000

AppDFormat = Literal["json", "yaml"]


class PackageError(ValueError):
    """The content is refused; `reason` is the Onboarded condition's reason, the text says why."""

    def __init__(self, reason: OnboardedReason, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


@dataclass(frozen=True)
class ArchiveLimits:
    """Bounds on what an archive may unpack to."""

    max_entries: int = 256
    max_total_bytes: int = 64 * MIB
    """Uncompressed size of all entries together (a zip bomb stops here)."""
    max_appd_bytes: int = MIB


@dataclass(frozen=True)
class Artifact:
    """A file of the archive: its path, uncompressed size and SHA-256 (hexadecimal)."""

    path: str
    size: int
    sha256: str


@dataclass(frozen=True)
class PackageArchive:
    """What onboarding needs from an archive: the AppD file, and every other file."""

    appd_path: str
    appd_bytes: bytes
    appd_format: AppDFormat
    artifacts: tuple[Artifact, ...]


def normalise_algorithm(name: str) -> str | None:
    """`SHA-256` for `SHA-256`, `sha256`, `SHA256`, `sha-256` (same for 512); None if neither."""
    compact = name.strip().upper().replace("-", "").replace("_", "")
    return {"SHA256": "SHA-256", "SHA512": "SHA-512"}.get(compact)


def digest(data: bytes, algorithm: str) -> str:
    """The hexadecimal hash of data with an accepted algorithm (`SHA-256` or `SHA-512`)."""
    return hashlib.new(ALGORITHMS[algorithm], data).hexdigest()


def verify_checksum(data: bytes, algorithm: str, expected: str) -> None:
    """PackageError(ChecksumMismatch) unless data hashes to expected (hexadecimal, any case)."""
    actual = digest(data, algorithm)
    if actual != expected.lower():
        raise PackageError(
            OnboardedReason.CHECKSUM_MISMATCH,
            f"checksum: the content's {algorithm} is {actual}, the package declared "
            f"{expected.lower()}",
        )


def _unsafe(message: str) -> PackageError:
    return PackageError(OnboardedReason.UNSAFE_ARCHIVE, message)


def _invalid(message: str) -> PackageError:
    return PackageError(OnboardedReason.INVALID_APPD, message)


def check_entry_name(name: str) -> None:
    """PackageError(UnsafeArchive) for a path that could leave the archive's root."""
    if not name or "\x00" in name:
        raise _unsafe(f"entry {name!r}: empty name or NUL byte")
    if name.startswith(("/", "\\")) or _DRIVE.match(name):
        raise _unsafe(f"entry {name!r}: absolute paths are refused")
    if ".." in re.split(r"[/\\]", name):
        raise _unsafe(f"entry {name!r}: '..' in a path is refused")


def _files(archive: zipfile.ZipFile, limits: ArchiveLimits) -> list[zipfile.ZipInfo]:
    infos = archive.infolist()
    if len(infos) > limits.max_entries:
        raise _unsafe(f"the archive has {len(infos)} entries, at most {limits.max_entries} allowed")
    seen: set[str] = set()
    declared = 0
    files: list[zipfile.ZipInfo] = []
    for info in infos:
        check_entry_name(info.filename)
        if info.filename in seen:
            raise _unsafe(f"entry {info.filename!r} appears twice")
        seen.add(info.filename)
        if (info.external_attr >> 16) & _S_IFMT == _S_IFLNK:
            raise _unsafe(f"entry {info.filename!r}: symbolic links are refused")
        if info.flag_bits & 0x1:
            raise _unsafe(f"entry {info.filename!r}: encrypted entries are refused")
        declared += info.file_size
        if not info.is_dir():
            files.append(info)
    if declared > limits.max_total_bytes:
        raise _unsafe(
            f"the archive unpacks to {declared} bytes, at most {limits.max_total_bytes} allowed"
        )
    return files


def _read(
    archive: zipfile.ZipFile, info: zipfile.ZipInfo, budget: int, limits: ArchiveLimits
) -> bytes:
    """The entry's bytes, reading at most `budget` (what is left of the total), CRC checked.

    zipfile stops at the size the central directory declares; a declaration smaller than the
    data would silently cut the entry short, so the CRC is compared here too.
    """
    chunks: list[bytes] = []
    size = 0
    try:
        with archive.open(info) as stream:
            while chunk := stream.read(_READ_CHUNK):
                size += len(chunk)
                if size > budget:
                    raise _unsafe(
                        f"the archive unpacks to more than {limits.max_total_bytes} bytes "
                        f"(entry {info.filename!r} is larger than it declares)"
                    )
                chunks.append(chunk)
    except (zipfile.BadZipFile, zlib.error, NotImplementedError, EOFError, OSError) as error:
        raise _unsafe(f"entry {info.filename!r} cannot be read: {error}") from None
    content = b"".join(chunks)
    if zlib.crc32(content) != info.CRC:
        raise _unsafe(f"entry {info.filename!r} is corrupt (its CRC does not match its content)")
    return content


def _entry_definitions(meta: bytes) -> str:
    try:
        text = meta.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise _invalid(f"{TOSCA_META}: not UTF-8 text") from None
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() == "Entry-Definitions" and value.strip():
            path = value.strip()
            return path[2:] if path.startswith("./") else path
    raise _invalid(f"{TOSCA_META}: no Entry-Definitions naming the AppD file")


def _appd_path(names: list[str]) -> str | None:
    top = [n for n in names if "/" not in n and n.lower().endswith(APPD_SUFFIXES)]
    if len(top) > 1:
        raise _invalid(
            f"the archive has {len(top)} top-level descriptor files ({', '.join(sorted(top))}) "
            f"and no {TOSCA_META} saying which is the AppD"
        )
    return top[0] if top else None


def _format(path: str, data: bytes) -> AppDFormat:
    if path.lower().endswith(".json"):
        return "json"
    if path.lower().endswith((".yaml", ".yml")):
        return "yaml"
    return "json" if data.lstrip().startswith(b"{") else "yaml"


def read_archive(data: bytes, limits: ArchiveLimits | None = None) -> PackageArchive:
    """The archive's AppD and other files; PackageError naming what is refused and why."""
    limits = limits or ArchiveLimits()
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError, EOFError) as error:
        raise _unsafe(f"the content is not a zip archive ({error})") from None
    with archive:
        files = _files(archive, limits)
        names = [info.filename for info in files]
        if TOSCA_META in names:
            meta = next(info for info in files if info.filename == TOSCA_META)
            path: str | None = _entry_definitions(
                _read(archive, meta, limits.max_appd_bytes, limits)
            )
            if path not in names:
                raise _invalid(
                    f"{TOSCA_META}: Entry-Definitions names {path!r}, which the archive "
                    "does not contain"
                )
        else:
            path = _appd_path(names)
            if path is None:
                raise _invalid(
                    f"no AppD: the archive needs {TOSCA_META} with Entry-Definitions, or one "
                    "top-level .yaml, .yml or .json file"
                )
        budget = limits.max_total_bytes
        appd = b""
        artifacts: list[Artifact] = []
        for info in files:
            content = _read(archive, info, budget, limits)
            budget -= len(content)
            if info.filename == path:
                appd = content
            else:
                sha = hashlib.sha256(content).hexdigest()
                artifacts.append(Artifact(info.filename, len(content), sha))
    if len(appd) > limits.max_appd_bytes:
        raise _invalid(f"the AppD {path!r} has {len(appd)} bytes, at most {limits.max_appd_bytes}")
    return PackageArchive(path, appd, _format(path, appd), tuple(artifacts))
