"""Package archives: the AppD found, every unsafe archive refused with the reason and the entry."""

from __future__ import annotations

import hashlib
import io
import struct
import zipfile

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mec_orchestrator.decisions.packages.archive import (
    TOSCA_META,
    ArchiveLimits,
    PackageError,
    check_entry_name,
    digest,
    normalise_algorithm,
    read_archive,
    verify_checksum,
)
from mec_orchestrator.model.apppackage import OnboardedReason

META = "TOSCA-Meta-File-Version: 1.0\nEntry-Definitions: Definitions/appd.yaml\n"


def zipped(entries: dict[str, bytes], method: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", method) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def refused(data: bytes, limits: ArchiveLimits | None = None) -> PackageError:
    with pytest.raises(PackageError) as error:
        read_archive(data, limits)
    return error.value


def test_tosca_meta_names_the_appd() -> None:
    data = zipped(
        {
            TOSCA_META: META.encode(),
            "Definitions/appd.yaml": b"appDId: x\n",
            "Files/readme.txt": b"hello",
        }
    )
    archive = read_archive(data)
    assert (archive.appd_path, archive.appd_bytes, archive.appd_format) == (
        "Definitions/appd.yaml",
        b"appDId: x\n",
        "yaml",
    )
    assert [(a.path, a.size) for a in archive.artifacts] == [
        (TOSCA_META, len(META)),
        ("Files/readme.txt", 5),
    ]
    assert archive.artifacts[1].sha256 == hashlib.sha256(b"hello").hexdigest()


def test_a_single_top_level_descriptor_is_the_appd() -> None:
    archive = read_archive(zipped({"appd.json": b"{}", "docs/other.yaml": b"a: 1"}))
    assert (archive.appd_path, archive.appd_format) == ("appd.json", "json")


@pytest.mark.parametrize(
    ("entries", "named"),
    [
        ({"a.yaml": b"", "b.json": b""}, "2 top-level descriptor files (a.yaml, b.json)"),
        ({"docs/a.yaml": b""}, "no AppD"),
        ({TOSCA_META: b"CSAR-Version: 1.1\n"}, "no Entry-Definitions"),
        ({TOSCA_META: META.encode()}, "'Definitions/appd.yaml', which the archive does not"),
        ({TOSCA_META: b"\xff\xfe\x00"}, "not UTF-8"),
    ],
)
def test_an_archive_without_a_findable_appd_is_refused(
    entries: dict[str, bytes], named: str
) -> None:
    error = refused(zipped(entries))
    assert error.reason is OnboardedReason.INVALID_APPD
    assert named in error.message


@pytest.mark.parametrize(
    "name",
    ["../evil", "a/../../evil", "/etc/passwd", "\\windows\\evil", "C:\\evil", "a\\..\\..\\b", ""],
)
def test_paths_that_could_leave_the_root_are_refused(name: str) -> None:
    with pytest.raises(PackageError) as error:
        check_entry_name(name)
    assert error.value.reason is OnboardedReason.UNSAFE_ARCHIVE


@pytest.mark.parametrize("name", ["a..b/c", "..a", "Definitions/appd.yaml", "x/.../y"])
def test_dots_that_are_not_a_parent_are_fine(name: str) -> None:
    check_entry_name(name)


def test_a_traversing_entry_is_refused_by_name() -> None:
    error = refused(zipped({"appd.json": b"{}", "../../etc/cron.d/x": b"boom"}))
    assert error.reason is OnboardedReason.UNSAFE_ARCHIVE
    assert "'../../etc/cron.d/x'" in error.message


def test_links_duplicates_and_encryption_are_refused() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("appd.json", b"{}")
        link = zipfile.ZipInfo("link")
        link.external_attr = 0o120777 << 16
        archive.writestr(link, "/etc/passwd")
    assert "symbolic links" in refused(buffer.getvalue()).message

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("appd.json", b"{}")
        with pytest.warns(UserWarning, match="Duplicate"):
            archive.writestr("appd.json", b"{}")
    assert "appears twice" in refused(buffer.getvalue()).message

    data = bytearray(zipped({"appd.json": b"{}"}))
    central = data.index(b"PK\x01\x02")
    flags = struct.unpack_from("<H", data, central + 8)[0]
    struct.pack_into("<H", data, central + 8, flags | 0x1)
    assert "encrypted" in refused(bytes(data)).message


def test_zip_bombs_are_refused() -> None:
    limits = ArchiveLimits(max_total_bytes=1024 * 1024)
    bomb = zipped({"appd.json": b"{}", "zeros": bytes(10 * 1024 * 1024)})
    assert len(bomb) < 20_000
    error = refused(bomb, limits)
    assert error.reason is OnboardedReason.UNSAFE_ARCHIVE
    assert "unpacks to" in error.message
    many = zipped({f"f{i}": b"" for i in range(20)} | {"appd.json": b"{}"})
    assert "21 entries" in refused(many, ArchiveLimits(max_entries=10)).message


def test_an_entry_larger_than_it_declares_is_refused() -> None:
    data = bytearray(zipped({"appd.json": b"{}", "zeros": bytes(100_000)}))
    central = data.rindex(b"zeros") - 46  # its central directory record: 46 bytes, then the name
    assert data[central : central + 4] == b"PK\x01\x02"
    struct.pack_into("<I", data, central + 24, 10)  # uncompressed size: 10 bytes
    error = refused(bytes(data))
    assert error.reason is OnboardedReason.UNSAFE_ARCHIVE
    assert "'zeros'" in error.message


def test_a_large_appd_is_refused() -> None:
    data = zipped({"appd.json": b" " * 2048})
    assert "at most 1024" in refused(data, ArchiveLimits(max_appd_bytes=1024)).message


@pytest.mark.parametrize("data", [b"", b"PK", b"not a zip", bytes(100)])
def test_what_is_not_a_zip_is_refused(data: bytes) -> None:
    error = refused(data)
    assert error.reason is OnboardedReason.UNSAFE_ARCHIVE
    assert "not a zip archive" in error.message


@settings(max_examples=200)
@given(st.binary(max_size=512))
def test_any_bytes_are_read_or_refused(data: bytes) -> None:
    _read_or_refuse(data)


def _read_or_refuse(data: bytes) -> None:
    """read_archive answers or raises PackageError (nothing else), with an archive reason."""
    reason = OnboardedReason.UNSAFE_ARCHIVE
    try:
        read_archive(data)
    except PackageError as error:
        reason = error.reason
    assert reason in (OnboardedReason.UNSAFE_ARCHIVE, OnboardedReason.INVALID_APPD)


@given(st.binary(max_size=512), st.binary(max_size=64))
def test_a_corrupted_archive_is_read_or_refused(extra: bytes, garbage: bytes) -> None:
    data = bytearray(zipped({"appd.json": b"{}", "file": extra}))
    at = len(data) // 3
    data[at : at + len(garbage)] = garbage
    _read_or_refuse(bytes(data))


def test_checksums() -> None:
    assert normalise_algorithm("sha256") == normalise_algorithm(" SHA-256 ") == "SHA-256"
    assert normalise_algorithm("SHA_512") == "SHA-512"
    assert normalise_algorithm("MD5") is None
    verify_checksum(b"x", "SHA-512", digest(b"x", "SHA-512").upper())
    with pytest.raises(PackageError) as error:
        verify_checksum(b"x", "SHA-256", "00" * 32)
    assert error.value.reason is OnboardedReason.CHECKSUM_MISMATCH
    assert digest(b"x", "SHA-256") in error.value.message
