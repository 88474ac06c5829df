"""BT.2020 and HDR (PQ, HLG) R'G'B' to SDR BT.709 R'G'B', in numpy (PyAV's FFmpeg has
no zscale or libplacebo, and swscale converts matrices, not light).

The steps, each a standard formula:

1. linear display light in cd/m2: PQ by the SMPTE ST 2084 EOTF; HLG by the BT.2100
   inverse OETF and the OOTF for a nominal 1000 cd/m2 display (gamma 1.2); SDR by
   BT.1886 (gamma 2.4, white at :data:`SDR_WHITE`);
2. BT.2020 -> BT.709 primaries (a 3x3 matrix derived from the two sets of
   chromaticities and D65), colours outside BT.709 clipped to it;
3. HDR only: the **BT.2390 EETF** (a Hermite knee in the PQ domain) maps the source
   peak onto SDR white (PQ: the file's MaxCLL, else its mastering display's peak, else
   1000 cd/m2; HLG: 1000), applied to max(R, G, B) with the three channels
   scaled alike (hue kept, no channel clips). Below the knee (88.6 cd/m2 for a
   1000 cd/m2 source) light passes unchanged;
4. SDR white is HDR reference white, 203 cd/m2 (BT.2408; as libplacebo and mpv), and
   the result is encoded with the inverse BT.1886 EOTF to 8 bits.

What that gives (tests/test_colour.py): 18% grey (26 cd/m2) -> 108/255, HDR reference
white (203 cd/m2, HLG 75%) -> about 234/255, highlights monotonic up to the peak."""

from __future__ import annotations

from functools import lru_cache

import numpy as np

OPERATOR = (
    "BT.2390 EETF on max(R,G,B) from the source peak (PQ: MaxCLL, else the mastering display's peak, else "
    "1000 cd/m2; HLG: 1000) onto SDR white = 203 cd/m2"
)
SDR_WHITE = 203.0  # cd/m2: HDR reference white (BT.2408) is SDR's 100%
SOURCE_PEAK = 1000.0  # cd/m2: HLG's nominal display, and PQ's when the file says nothing else
PQ, HLG = 16, 18
BT2020 = 9

# SMPTE ST 2084
_M1, _M2 = 2610 / 16384, 2523 / 4096 * 128
_C1, _C2, _C3 = 3424 / 4096, 2413 / 4096 * 32, 2392 / 4096 * 32
# ARIB STD-B67 / BT.2100 HLG
_A, _B, _C = 0.17883277, 0.28466892, 0.55991073

_XY = {
    "bt709": ((0.640, 0.330), (0.300, 0.600), (0.150, 0.060)),
    "bt2020": ((0.708, 0.292), (0.170, 0.797), (0.131, 0.046)),
}
_D65 = (0.3127, 0.3290)


def pq_eotf(e: np.ndarray) -> np.ndarray:
    """PQ signal 0..1 -> cd/m2 (0..10000)."""
    p = np.power(np.clip(e, 0, 1), 1 / _M2)
    return 10000.0 * np.power(np.maximum(p - _C1, 0) / (_C2 - _C3 * p), 1 / _M1)


def pq_inverse_eotf(nits: np.ndarray) -> np.ndarray:
    """cd/m2 -> PQ signal 0..1."""
    y = np.power(np.clip(np.asarray(nits, dtype=np.float64) / 10000.0, 0, 1), _M1)
    return np.power((_C1 + _C2 * y) / (1 + _C3 * y), _M2)


def hlg_inverse_oetf(e: np.ndarray) -> np.ndarray:
    """HLG signal 0..1 -> scene light 0..1."""
    e = np.clip(e, 0, 1)
    low = e * e / 3.0
    high = (np.exp((np.maximum(e, 0.5) - _C) / _A) + _B) / 12.0
    return np.where(e <= 0.5, low, high)


def hlg_oetf(scene: np.ndarray) -> np.ndarray:
    """Scene light 0..1 -> HLG signal 0..1 (for tests and tools)."""
    scene = np.clip(np.asarray(scene, dtype=np.float64), 0, 1)
    return np.where(scene <= 1 / 12, np.sqrt(3 * scene), _A * np.log(np.maximum(12 * scene - _B, 1e-12)) + _C)


def rgb_to_xyz(name: str) -> np.ndarray:
    """The RGB -> XYZ matrix of a set of primaries with a D65 white."""
    xy = np.array(_XY[name])
    xyz = np.stack([xy[:, 0] / xy[:, 1], np.ones(3), (1 - xy[:, 0] - xy[:, 1]) / xy[:, 1]])  # columns: R G B
    wx, wy = _D65
    white = np.array([wx / wy, 1.0, (1 - wx - wy) / wy])
    return xyz * np.linalg.solve(xyz, white)


BT2020_TO_BT709 = np.linalg.solve(rgb_to_xyz("bt709"), rgb_to_xyz("bt2020"))
LUMA_2020 = rgb_to_xyz("bt2020")[1]


def knee(source_peak: float = SOURCE_PEAK, target_peak: float = SDR_WHITE) -> float:
    """cd/m2 where the EETF starts to compress (88.6 for 1000 onto 203)."""
    top = pq_inverse_eotf(source_peak)
    ks = 1.5 * pq_inverse_eotf(target_peak) / top - 0.5
    return float(pq_eotf(np.asarray(min(ks, 1.0) * top)))


def eetf(nits: np.ndarray, source_peak: float = SOURCE_PEAK, target_peak: float = SDR_WHITE) -> np.ndarray:
    """BT.2390 EETF (black level 0): cd/m2 in, cd/m2 out, ``source_peak`` onto ``target_peak``;
    identity below the knee, monotonic, never above ``target_peak``."""
    top = pq_inverse_eotf(source_peak)
    e = pq_inverse_eotf(nits) / top
    max_lum = pq_inverse_eotf(target_peak) / top
    ks = 1.5 * max_lum - 0.5
    if ks >= 1:  # the source fits: nothing to compress
        return np.minimum(nits, target_peak)
    t = np.clip((e - ks) / (1 - ks), 0, 1)
    t2, t3 = t * t, t * t * t
    knee = (2 * t3 - 3 * t2 + 1) * ks + (t3 - 2 * t2 + t) * (1 - ks) + (-2 * t3 + 3 * t2) * max_lum
    mapped = np.where(e < ks, e, np.where(e >= 1, max_lum, knee))
    return pq_eotf(mapped * top)


@lru_cache(maxsize=8)
def _linear_lut(transfer: int) -> np.ndarray:
    """16-bit code -> linear light (cd/m2 for PQ; scene light 0..1 for HLG; BT.1886
    display light 0..1 for SDR), float32."""
    e = np.arange(65536, dtype=np.float64) / 65535.0
    if transfer == PQ:
        return pq_eotf(e).astype(np.float32)
    if transfer == HLG:
        return hlg_inverse_oetf(e).astype(np.float32)
    return np.power(e, 2.4).astype(np.float32)


@lru_cache(maxsize=1)
def _encode_lut() -> np.ndarray:
    """SDR display light 0..1 (as 16-bit code) -> 8-bit BT.1886 signal."""
    light = np.arange(65536, dtype=np.float64) / 65535.0
    return np.round(np.power(light, 1 / 2.4) * 255.0).astype(np.uint8)


@lru_cache(maxsize=8)
def _eetf_scale(source_peak: float) -> np.ndarray:
    """The EETF as a gain, tabulated over sqrt(cd/m2) (16385 steps from 0 to 10000 cd/m2:
    0.6% apart at 100 cd/m2, finer above): the formula itself costs ~1 s a 1080p frame
    in numpy, the table lookup ~30 ms."""
    root = np.linspace(0, 100.0, 16385)
    nits = root * root
    gain = eetf(nits, source_peak) / np.maximum(nits, 1e-9)
    gain[0] = 1.0
    return gain.astype(np.float32)


def _display_nits(lin: np.ndarray, transfer: int) -> np.ndarray:
    """Linear RGB (BT.2020) -> display cd/m2."""
    if transfer == PQ:
        return lin
    if transfer == HLG:  # OOTF: Fd = Lw * Ys^(gamma - 1) * E, gamma 1.2 at Lw = 1000 cd/m2
        r, g, b = lin[..., 0], lin[..., 1], lin[..., 2]
        ys = LUMA_2020[0] * r + LUMA_2020[1] * g + LUMA_2020[2] * b
        gain = SOURCE_PEAK * np.power(np.maximum(ys, 1e-6, dtype=np.float32), np.float32(0.2))
        return lin * gain[..., None]
    return lin * np.float32(SDR_WHITE)


def _to_bt709(rgb: np.ndarray) -> np.ndarray:
    m = BT2020_TO_BT709.astype(np.float32)
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    out = np.empty_like(rgb)
    for i in range(3):
        np.maximum(m[i, 0] * r + m[i, 1] * g + m[i, 2] * b, 0, out=out[..., i])
    return out


def to_sdr(rgb16: np.ndarray, transfer: int, primaries: int, source_peak: float = SOURCE_PEAK) -> np.ndarray:
    """HWC uint16 R'G'B' (or R'G'B'A) in ``transfer`` / ``primaries`` -> HWC uint8 SDR
    BT.709 R'G'B' (alpha scaled to 8 bits)."""
    alpha = rgb16[..., 3] if rgb16.shape[-1] == 4 else None
    lin = _linear_lut(transfer)[rgb16[..., :3]]
    nits = _display_nits(lin, transfer)
    if primaries == BT2020:
        nits = _to_bt709(nits)
    if transfer in (PQ, HLG):
        peak = np.maximum(np.maximum(nits[..., 0], nits[..., 1]), nits[..., 2])
        at = np.sqrt(np.minimum(peak, np.float32(10000.0)), dtype=np.float32)
        gain = _eetf_scale(source_peak)
        at *= np.float32((len(gain) - 1) / 100.0)
        nits *= gain[(at + 0.5).astype(np.intp)][..., None]
    code = np.minimum(nits * np.float32(65535.0 / SDR_WHITE) + np.float32(0.5), np.float32(65535.0)).astype(np.uint16)
    rgb = _encode_lut()[code]
    if alpha is not None:
        rgb = np.dstack([rgb, (alpha.astype(np.uint32) * 255 + 32767) // 65535]).astype(np.uint8)
    return rgb


BT709_TO_BT2020 = np.linalg.inv(BT2020_TO_BT709)


def from_sdr(rgb8: np.ndarray, transfer: int) -> np.ndarray:
    """HWC uint8 SDR BT.709 R'G'B' (a background) -> HWC uint16 BT.2020 R'G'B' in
    ``transfer`` (PQ or HLG), as BT.2408 places SDR inside HDR: SDR white at HDR
    reference white (:data:`SDR_WHITE`), BT.709 colours kept inside BT.2020. PQ: the
    inverse ST 2084 EOTF of the display light; HLG: the inverse BT.2100 OOTF (nominal
    1000 cd/m2 display, gamma 1.2), then the OETF. The inverse of :func:`to_sdr` below
    the knee (tested both ways)."""
    lin = (np.arange(256, dtype=np.float64) / 255.0) ** 2.4
    light = lin.astype(np.float32)[rgb8[..., :3]] * np.float32(SDR_WHITE)  # cd/m2, BT.709
    m = BT709_TO_BT2020.astype(np.float32)
    nits = np.maximum(light @ m.T, 0)
    if transfer == PQ:
        signal = pq_inverse_eotf(nits)
    else:
        ys = np.maximum(nits @ LUMA_2020.astype(np.float32), 1e-9) / np.float32(SOURCE_PEAK)
        scene = nits / np.float32(SOURCE_PEAK) / np.power(ys, np.float32(0.2 / 1.2))[..., None]
        signal = hlg_oetf(scene)
    return (np.clip(signal, 0, 1) * 65535 + 0.5).astype(np.uint16)
