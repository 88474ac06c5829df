"""split: segment planning covers every frame exactly once, in order."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vidpipe.errors import ConfigError
from vidpipe.media.segments import plan_ranges, split


@given(
    n=st.integers(0, 20000),
    fps=st.floats(1.0, 240.0),
    seconds=st.floats(0.05, 120.0),
)
def test_segments_cover_every_frame_once_in_order(n, fps, seconds):
    ranges = plan_ranges(n, fps, seconds)
    covered = [i for first, count in ranges for i in range(first, first + count)]
    assert covered == list(range(n))
    assert all(count > 0 for _, count in ranges)
    size = max(1, round(seconds * fps))
    # every segment is about N seconds: never longer than 1.5 segments
    assert all(count < 1.5 * size + 1 for _, count in ranges)


def test_short_tail_joins_previous_segment():
    assert plan_ranges(100, 25, 1) == [(0, 25), (25, 25), (50, 25), (75, 25)]
    assert plan_ranges(105, 25, 1) == [(0, 25), (25, 25), (50, 25), (75, 30)]
    assert plan_ranges(115, 25, 1)[-1] == (100, 15)


def test_split_keeps_first_and_last_timestamps():
    ts = [0, 40, 80, 130, 170, 200, 260]
    segs = split(ts, fps=25, seconds=0.12)  # 3 frames each, tail of 1 joins
    assert [(s.first_frame, s.n_frames) for s in segs] == [(0, 3), (3, 4)]
    assert (segs[1].first_pts, segs[1].last_pts) == (130, 260)


@pytest.mark.parametrize("fps,seconds", [(0, 1), (25, 0), (25, -1)])
def test_bad_settings_are_config_errors(fps, seconds):
    with pytest.raises(ConfigError):
        plan_ranges(10, fps, seconds)
