"""The folder watcher starts a file once it has stopped changing, and each version once."""

import os

from app.watch import Settler


def test_a_file_is_ready_once_it_stops_growing(tmp_path):
    video = tmp_path / "new.mp4"
    video.write_bytes(b"x" * 10)
    w = Settler(tmp_path, settle=5)
    assert w.poll(now=0) == []
    with video.open("ab") as f:  # still being written
        f.write(b"y" * 10)
    os.utime(video, ns=(1, 1))
    assert w.poll(now=4) == []
    assert w.poll(now=8) == []  # unchanged for 4 s only
    assert w.poll(now=9.5) == [video]  # unchanged for 5.5 s: ready
    assert w.poll(now=20) == []  # started once
    video.write_bytes(b"z" * 30)  # replaced by a new version: ready again once settled
    assert w.poll(now=21) == [] and w.poll(now=27) == [video]


def test_empty_hidden_and_non_video_files_are_ignored(tmp_path):
    (tmp_path / "empty.mp4").touch()
    (tmp_path / ".partial.mp4").write_bytes(b"x")
    (tmp_path / "notes.txt").write_bytes(b"x")
    w = Settler(tmp_path, settle=0)
    assert w.poll(now=0) == [] and w.poll(now=1) == []
