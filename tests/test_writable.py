"""``writable.check_writable``: an output path that cannot be written is one error naming it,
found before the work, and asking leaves the disk as it was."""

from __future__ import annotations

import pytest

from infovaegan_plugin.writable import NotWritableError, check_writable


def test_a_writable_path_passes_and_the_folders_made_to_find_out_are_removed(tmp_path):
    check_writable(tmp_path / "a" / "b" / "codes.npy", "--output")
    check_writable(tmp_path / "c" / "d", "--output-dir", folder=True)
    check_writable(tmp_path / "codes.npy", "--output")
    assert list(tmp_path.iterdir()) == []


def test_a_folder_given_for_a_file_is_refused(tmp_path):
    with pytest.raises(NotWritableError) as error:
        check_writable(tmp_path, "--output")
    assert str(error.value) == f"--output {tmp_path} is a folder; give a file name inside it."


def test_a_file_given_for_a_folder_is_refused(tmp_path):
    (tmp_path / "a_file").write_text("x")
    with pytest.raises(NotWritableError, match="is a file, not a folder") as error:
        check_writable(tmp_path / "a_file", "--output-dir", folder=True)
    assert str(error.value) == f"--output-dir {tmp_path / 'a_file'} is a file, not a folder."


def test_a_file_in_the_way_of_the_parent_folders_is_named(tmp_path):
    (tmp_path / "a_file").write_text("x")
    target = tmp_path / "a_file" / "runs" / "codes.csv"
    with pytest.raises(NotWritableError) as error:
        check_writable(target, "--output")
    assert str(error.value) == (f"cannot write --output {target}: {tmp_path / 'a_file'} is a "
                                "file, not a folder.")
    assert isinstance(error.value, ValueError)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_file"]
