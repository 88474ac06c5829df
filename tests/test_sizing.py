"""Output-size math: even sides, aspect kept within one pixel, never smaller than the input."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vidpipe.errors import ConfigError
from vidpipe.steps.upscale import TARGET_SHORT_SIDE, output_size


@given(w=st.integers(1, 8192), h=st.integers(1, 8192), target=st.sampled_from(["720p", "1080p", "2160p", "none"]))
def test_target_sizes_are_even_and_keep_aspect(w, h, target):
    ow, oh = output_size(w, h, target)
    assert ow % 2 == 0 and oh % 2 == 0
    # aspect within one pixel: the long side is within 1 px of what the short side implies
    if w >= h:
        assert abs(ow - oh * w / h) <= 1 + 1e-9
    else:
        assert abs(oh - ow * h / w) <= 1 + 1e-9
    if target != "none" and min(w, h) < TARGET_SHORT_SIDE[target]:
        assert abs(min(ow, oh) - TARGET_SHORT_SIDE[target]) <= 1


@given(w=st.integers(2, 4000), h=st.integers(2, 4000), scale=st.floats(1.01, 8.0))
def test_scale_sizes_are_even_and_keep_aspect(w, h, scale):
    ow, oh = output_size(w, h, scale=scale)
    assert ow % 2 == 0 and oh % 2 == 0
    short, short_out = min(w, h), min(ow, oh)
    assert abs(short_out - short * scale) <= 1 or short_out == 2
    if w >= h:
        assert abs(ow - oh * w / h) <= 1 + 1e-9
    else:
        assert abs(oh - ow * h / w) <= 1 + 1e-9


def test_common_cases():
    assert output_size(540, 960, "1080p") == (1080, 1920)  # vertical 9:16 540p
    assert output_size(960, 540, "1080p") == (1920, 1080)
    assert output_size(853, 479, "1080p") == (1924, 1080)
    assert output_size(853, 479, "none") == (854, 480)  # odd input
    assert output_size(1920, 1080, "720p") == (1920, 1080)  # never downscales
    assert output_size(640, 360, scale=2) == (1280, 720)


def test_bad_target_is_a_config_error():
    with pytest.raises(ConfigError):
        output_size(640, 360, "4k")
