"""The spool store: chunked, idempotent, confined to the job's directory."""

from __future__ import annotations

import base64

import pytest

from qmf_agent.errors import JobNotFound, ParameterInvalid
from qmf_agent.grid.spool import MAX_CHUNK, SpoolStore


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def test_chunks_reassemble_and_read_back(tmp_path):
    store = SpoolStore(str(tmp_path))
    assert store.write("7.0", "input.txt", 0, b64(b"hello "), False) == 6
    assert store.write("7.0", "input.txt", 6, b64(b"world"), True) == 11
    assert (tmp_path / "7" / "0" / "input.txt").read_bytes() == b"hello world"
    data, final = store.read("7.0", "input.txt", 0, 5)
    assert base64.b64decode(data) == b"hello" and final is False
    data, final = store.read("7.0", "input.txt", 5, 100)
    assert base64.b64decode(data) == b" world" and final is True
    assert store.files("7.0") == ["input.txt"]


def test_a_retried_chunk_does_not_duplicate_data(tmp_path):
    store = SpoolStore(str(tmp_path))
    store.write("1.2", "f", 0, b64(b"abc"), False)
    store.write("1.2", "f", 3, b64(b"def"), False)
    store.write("1.2", "f", 3, b64(b"def"), True)  # the answer was lost; sent again
    assert (tmp_path / "1" / "2" / "f").read_bytes() == b"abcdef"


def test_a_gap_is_refused(tmp_path):
    store = SpoolStore(str(tmp_path))
    with pytest.raises(ParameterInvalid, match="a chunk is missing"):
        store.write("1.0", "f", 10, b64(b"x"), True)


@pytest.mark.parametrize("name", ["../escape", "a/b", "..", ".", "", "x\x00y"])
def test_names_cannot_leave_the_job_directory(tmp_path, name):
    with pytest.raises(ParameterInvalid, match="Name must be a plain file name"):
        SpoolStore(str(tmp_path)).write("1.0", name, 0, b64(b"x"), True)


@pytest.mark.parametrize(
    "job_id, offset, data, words",
    [
        ("1", 0, b64(b"x"), "Id must be a job id"),
        ("1.0", -1, b64(b"x"), "Offset must be"),
        ("1.0", 0, "not base64!", "Data must be base64"),
        ("1.0", 0, b64(b"x" * (MAX_CHUNK + 1)), "at most"),
    ],
)
def test_bad_arguments_name_the_argument(tmp_path, job_id, offset, data, words):
    with pytest.raises(ParameterInvalid, match=words):
        SpoolStore(str(tmp_path)).write(job_id, "f", offset, data, True)


def test_reading_a_missing_file_or_bad_length(tmp_path):
    store = SpoolStore(str(tmp_path))
    with pytest.raises(JobNotFound, match="no spooled file out.txt"):
        store.read("3.0", "out.txt", 0, 10)
    store.write("3.0", "out.txt", 0, b64(b"x"), True)
    with pytest.raises(ParameterInvalid, match="Length must be"):
        store.read("3.0", "out.txt", 0, 0)


def test_remove_forgets_the_files(tmp_path):
    store = SpoolStore(str(tmp_path))
    store.write("4.1", "f", 0, b64(b"x"), True)
    store.remove("4.1")
    assert store.files("4.1") == []
