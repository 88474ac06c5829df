"""restore_faces on real frames of liveportrait_d12.mp4: detection, alignment,
smoothing, paste-back, and the GFPGAN restore step (random weights of the real
architecture; the real v1.4 file where VIDPIPE_MODELS_DIR has it)."""

import cv2
import numpy as np
import pytest

from vidpipe.media.reader import read_frames
from vidpipe.models import registry, store
from vidpipe.models.faces import TEMPLATE_512, Detector, LandmarkSmoother, align, paste, similarity
from vidpipe.steps.restore_faces import FrameFaceRestorer, RestoreFacesConfig


@pytest.fixture(scope="module")
def frames(media):
    return list(read_frames(media("liveportrait_d12.mp4")))


@pytest.fixture(scope="module")
def detections(frames, weights):
    detect = Detector(str(weights("face_detection_yunet_2023mar.onnx")))
    return [detect(f) for f in frames]


def test_yunet_finds_the_face_in_every_frame(frames, detections):
    assert len(frames) == 183
    assert all(len(d) >= 1 for d in detections)


def test_aligned_eyes_land_on_the_template(frames, detections):
    for frame, found in zip(frames[::10], detections[::10]):
        crop, m = align(frame, found[0].landmarks)
        eyes = (m[:, :2] @ found[0].landmarks[:2].T).T + m[:, 2]
        assert crop.shape == (512, 512, 3)
        assert np.abs(eyes - TEMPLATE_512[:2]).max() <= 2.0


def test_smoothing_lowers_landmark_jitter(detections):
    raw = np.array([d[0].landmarks for d in detections])
    smoother = LandmarkSmoother(fps=25.0)
    smooth = np.array([smoother([d[0]])[0].landmarks for d in detections])

    def jitter(x):  # mean absolute second difference, pixels
        return float(np.abs(np.diff(x, 2, axis=0)).mean())

    print(f"jitter raw {jitter(raw):.2f} px, smoothed {jitter(smooth):.2f} px")
    assert jitter(smooth) < 0.7 * jitter(raw)
    assert np.abs(smooth - raw).mean() < 0.05 * detections[0][0].box[2]  # lag stays small


def test_similarity_is_exact_for_a_pure_similarity():
    rng = np.random.default_rng(0)
    pts = rng.uniform(0, 500, (5, 2))
    angle, scale, shift = 0.3, 1.7, np.array([12.0, -40.0])
    rot = scale * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    m = similarity(pts, pts @ rot.T + shift)
    assert np.allclose(m[:, :2], rot) and np.allclose(m[:, 2], shift)


def _face_region(m, shape):
    inv = cv2.invertAffineTransform(m)
    corners = cv2.transform(np.array([[[0, 0], [512, 0], [512, 512], [0, 512]]], np.float32), inv)[0]
    region = np.zeros(shape[:2], np.uint8)
    cv2.fillConvexPoly(region, corners.astype(np.int32), 1)
    return cv2.dilate(region, np.ones((5, 5), np.uint8)).astype(bool)


def test_paste_back_changes_only_the_face_region(frames, detections):
    frame = frames[0]
    crop, m = align(frame, detections[0][0].landmarks)
    out = paste(frame, 255 - crop, m)  # an obviously different "restored" face
    changed = np.any(out != frame, axis=2)
    assert changed.sum() > 10_000
    assert not np.any(changed & ~_face_region(m, frame.shape))


@pytest.mark.slow
def test_restore_step_with_gfpgan_architecture(frames, random_gfpgan):
    restorer = FrameFaceRestorer(RestoreFacesConfig(model=str(random_gfpgan)), fps=25.0)
    frame = frames[5]
    out = restorer(frame)
    assert out.shape == frame.shape and restorer.faces_restored == 1
    face = restorer.faces(frame)[0]
    _, m = align(frame, face.landmarks)
    changed = np.any(out != frame, axis=2)
    assert changed.sum() > 10_000 and not np.any(changed & ~_face_region(m, frame.shape))
    original = FrameFaceRestorer(RestoreFacesConfig(model=str(random_gfpgan), fidelity=1.0), fps=25.0)(frame)
    assert np.abs(original.astype(int) - frame).mean() < 1.0  # fidelity 1 keeps the original face


def test_small_faces_are_left_alone(frames, random_gfpgan):
    restorer = FrameFaceRestorer(RestoreFacesConfig(model=str(random_gfpgan), min_face=10_000), fps=25.0)
    assert np.array_equal(restorer(frames[0]), frames[0]) and restorer.faces_restored == 0


@pytest.mark.skipif(store.find(registry.get("GFPGANv1.4")) is None, reason="GFPGANv1.4.pth not in VIDPIPE_MODELS_DIR")
def test_real_gfpgan_keeps_the_identity(frames):
    restorer = FrameFaceRestorer(RestoreFacesConfig(), fps=25.0)
    frame = frames[0]
    face = restorer.faces(frame)[0]
    crop, _ = align(frame, face.landmarks)
    restored = restorer.restore(crop)
    assert cv2.PSNR(cv2.GaussianBlur(restored, (9, 9), 0), cv2.GaussianBlur(crop, (9, 9), 0)) > 22
