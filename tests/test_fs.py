import os
import stat

import pytest

from stenoscope._fs import atomic_dir, atomic_path, write_text_atomic


def test_atomic_path_keeps_old_file_when_writer_fails(tmp_path):
    target = tmp_path / "report.json"
    write_text_atomic(target, "old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("interrupted")
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.json"]


def test_atomic_dir_replaces_whole_folder(tmp_path):
    target = tmp_path / "clip"
    with atomic_dir(target) as tmp:
        (tmp / "a.txt").write_text("1")
    with atomic_dir(target) as tmp:
        (tmp / "b.txt").write_text("2")
    assert sorted(p.name for p in target.iterdir()) == ["b.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip"]


def test_outputs_get_the_users_usual_permissions(tmp_path):
    mask = os.umask(0o022)
    try:
        file = write_text_atomic(tmp_path / "a.json", "{}")
        with atomic_dir(tmp_path / "clip") as tmp:
            (tmp / "x").write_text("1")
    finally:
        os.umask(mask)
    assert stat.S_IMODE(file.stat().st_mode) == 0o644
    assert stat.S_IMODE((tmp_path / "clip").stat().st_mode) == 0o755
