"""Secrets a server keeps in its data dir: 0600, replaced atomically, never written through a
file or symlink someone left at a fixed temporary name."""

from __future__ import annotations

from runtime.tenancy.keyfiles import read_private, write_private


def test_a_key_file_is_0600_and_replaced(tmp_path):
    path = tmp_path / "dir" / "operator-key"
    write_private(path, "tro_first")
    write_private(path, "tro_second")
    assert read_private(path) == "tro_second"
    assert path.stat().st_mode & 0o777 == 0o600
    assert [p.name for p in path.parent.iterdir()] == ["operator-key"]  # no temporary left


def test_a_symlink_at_the_old_temporary_name_is_not_written_through(tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.write_text("untouched\n")
    (tmp_path / "runtime-key.tmp").symlink_to(elsewhere)
    write_private(tmp_path / "runtime-key", "trk_secret")
    assert elsewhere.read_text() == "untouched\n"
    assert read_private(tmp_path / "runtime-key") == "trk_secret"
    assert not (tmp_path / "runtime-key").is_symlink()
