"""Files written beside their final name and renamed: readers see the old file or the new one, never half."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from engines.atomic_write import replaced_on_success


def test_the_file_appears_only_when_the_block_ends(tmp_path: Path):
    target = tmp_path / "deep" / "model.onnx"
    with replaced_on_success(target) as temporary:
        temporary.write_bytes(b"half")
        assert not target.exists()  # the folder is made, the name is not taken yet
        assert temporary.parent == target.parent and temporary.name.startswith(".") and temporary.suffix == ".tmp"
        temporary.write_bytes(b"whole")
    assert target.read_bytes() == b"whole"
    assert os.listdir(target.parent) == ["model.onnx"]


@pytest.mark.parametrize("durable", [False, True])
def test_a_failed_write_keeps_the_old_file_and_leaves_nothing_behind(tmp_path: Path, durable: bool):
    target = tmp_path / "tokens.yaml"
    target.write_text("old")
    with pytest.raises(OSError, match="disk full"), replaced_on_success(target, durable=durable) as temporary:
        temporary.write_text("new, half written")
        raise OSError(28, "disk full")
    assert target.read_text() == "old"
    assert os.listdir(tmp_path) == ["tokens.yaml"]


def test_two_writers_of_one_target_do_not_share_a_temporary_name(tmp_path: Path):
    target = tmp_path / "index.faiss"
    with replaced_on_success(target) as first, replaced_on_success(target, durable=True) as second:
        assert first != second
        first.write_text("first")
        second.write_text("second")
    assert target.read_text() == "first"  # the outer block ends last: the last rename wins
    assert os.listdir(tmp_path) == ["index.faiss"]


def test_the_file_keeps_the_process_permissions(tmp_path: Path):
    previous = os.umask(0o022)
    try:
        with replaced_on_success(tmp_path / "thumb.jpg") as temporary:
            temporary.write_bytes(b"jpeg")
    finally:
        os.umask(previous)
    assert (tmp_path / "thumb.jpg").stat().st_mode & 0o777 == 0o644  # readable by a web server running as another user


def test_a_private_file_is_the_owner_s_alone_from_its_first_byte(tmp_path: Path):
    previous = os.umask(0o022)
    try:
        with replaced_on_success(tmp_path / "tokens.yaml", private=True) as temporary:
            assert temporary.stat().st_mode & 0o777 == 0o600  # before the block writes anything
            temporary.write_text("sha256: ...")
    finally:
        os.umask(previous)
    assert (tmp_path / "tokens.yaml").stat().st_mode & 0o777 == 0o600
