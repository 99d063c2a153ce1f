"""MASS: an offline lip-sync measurement from the rendered video alone (notes: talking_head.md §2).

The mouth opening is re-detected on every frame with the face landmarker and cross-correlated with
the loudness envelope of the speech band. Which frames are speech and which are pauses is decided
from the audio envelope only, never from what the renderer intended.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from engine.errors import CohostError
from engine.face.landmarks import FaceLandmarker
from engine.media.decode import VideoReader, read_audio

# Pass thresholds (issue 2; talking_head.md §2). Apertures are in inter-ocular distances (IOD).
SPEECH_OPEN_MIN = 0.10  # P95−P5 of the aperture over speech frames
# Median aperture over pauses, above the mouth's resting opening (its 5th percentile over the
# whole clip). Relative, because a portrait may rest with parted lips: a smile that shows teeth.
PAUSE_REST_MAX = 0.03
LAG_MIN_MS, LAG_MAX_MS = -40.0, 40.0  # positive = mouth late
R_MIN = 0.5  # peak Pearson correlation
CONF_MIN = 0.2  # peak minus the far-lag median, like SyncNet's confidence

# Measurement parameters.
MAX_MISSING_FACE = 0.05  # fraction of frames allowed without a detected face
BAND_HZ = (200.0, 1500.0)  # speech band: voicing and the first formant, where the jaw shows
WINDOW_S = 0.040  # envelope window centred on each frame time
SPEECH_DB = -35.0  # a frame is speech when its envelope is within this of the loudest frame
PAUSE_MIN_S = 0.300
DETREND_S = 1.0  # moving-median window removed from both tracks
MAX_LAG_FRAMES = 15
FAR_LAG_FRAMES = 10  # |τ| from here on is "unrelated" for the confidence baseline
MIN_SPEECH_S = 1.0  # less speech than this gives no trustworthy correlation

# FaceMesh points: three vertical inner-lip gaps (centre, left, right) and the outer eye corners.
_LIP_PAIRS = ((13, 14), (82, 87), (312, 317))
_EYE_CORNERS = (33, 263)


@dataclass(frozen=True)
class SyncReport:
    lag_ms: float  # best lag, positive = mouth late; nan when the mouth never moves
    r: float  # Pearson correlation at the best lag
    conf: float  # r minus the median r at |τ| ≥ FAR_LAG_FRAMES
    speech_open: float  # P95−P5 of the aperture over speech frames, IOD
    pause_rest: float | None  # median aperture over pauses ≥ PAUSE_MIN_S above the resting one; None without pauses
    failures: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.failures


def mouth_aperture(points: np.ndarray) -> float:
    """Mean vertical inner-lip gap over the inter-ocular distance, from (478, ≥2) landmarks."""
    xy = points[:, :2].astype(np.float64)
    gaps = [np.linalg.norm(xy[a] - xy[b]) for a, b in _LIP_PAIRS]
    return float(np.mean(gaps) / np.linalg.norm(xy[_EYE_CORNERS[0]] - xy[_EYE_CORNERS[1]]))


def mouth_track(frames: Iterable[np.ndarray], fps: float, model_path: Path) -> np.ndarray:
    """Aperture of the largest face on every RGB frame; frames without a face are interpolated."""
    values = []
    with FaceLandmarker(model_path, video=True, max_faces=1) as landmarker:
        for k, rgb in enumerate(frames):
            faces = landmarker.detect(rgb, timestamp_ms=round(k * 1000 / fps))
            values.append(mouth_aperture(faces[0].points) if faces else np.nan)
    track = np.array(values, np.float64)
    found = ~np.isnan(track)
    if len(track) == 0 or (~found).mean() > MAX_MISSING_FACE:
        raise CohostError(
            f"no face found on {int((~found).sum())} of {len(track)} frames "
            f"(at most {MAX_MISSING_FACE:.0%} may miss): cannot measure lip sync"
        )
    index = np.arange(len(track))
    return np.interp(index, index[found], track[found])


def speech_envelope(audio: np.ndarray, sample_rate: int, frame_times: np.ndarray) -> np.ndarray:
    """Log-RMS (dB) of the 200–1500 Hz band in 40 ms windows centred on each frame time.

    `frame_times` are seconds on the audio's clock (sample 0 at t = 0). The band-pass is a
    zero-phase FFT mask, so the envelope carries no filter delay that would bias the lag.
    """
    x = np.asarray(audio, np.float64)
    if x.size == 0:
        return np.full(len(frame_times), -np.inf)
    banded = np.fft.irfft(np.fft.rfft(x) * _band_mask(len(x), sample_rate), n=len(x))
    power = np.concatenate([[0.0], np.cumsum(banded**2)])
    half = WINDOW_S / 2 * sample_rate
    lo = np.clip(np.round(np.asarray(frame_times) * sample_rate - half).astype(int), 0, len(x))
    hi = np.clip(np.round(np.asarray(frame_times) * sample_rate + half).astype(int), 0, len(x))
    mean_sq = (power[hi] - power[lo]) / np.maximum(hi - lo, 1)
    # Digital silence would be −inf; a floor 100 dB under the loudest window keeps it finite.
    floor = max(float(mean_sq.max()), 1e-30) * 1e-10
    return 10 * np.log10(np.maximum(mean_sq, floor))


def _band_mask(n: int, sample_rate: int) -> np.ndarray:
    # Raised-cosine edges (50 Hz wide) instead of a brick wall, to keep ringing short.
    freqs = np.fft.rfftfreq(n, 1 / sample_rate)
    edge = 50.0
    low, high = BAND_HZ
    rise = np.clip((freqs - (low - edge)) / edge, 0, 1)
    fall = np.clip(((high + edge) - freqs) / edge, 0, 1)
    return (0.5 - 0.5 * np.cos(np.pi * rise)) * (0.5 - 0.5 * np.cos(np.pi * fall))


def _moving_median(x: np.ndarray, width: int) -> np.ndarray:
    half = width // 2
    padded = np.pad(x, half, mode="edge")
    return np.median(np.lib.stride_tricks.sliding_window_view(padded, 2 * half + 1), axis=1)


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """(start, stop) of each run of True."""
    edges = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)))


def _pearson(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a - a.mean(), b - b.mean()
    denom = np.sqrt((a * a).sum() * (b * b).sum())
    return float((a * b).sum() / denom) if denom > 1e-12 else 0.0


def _lag_curve(aperture: np.ndarray, envelope: np.ndarray, speech: np.ndarray) -> np.ndarray:
    """r(τ) for τ = −MAX_LAG..MAX_LAG: the mouth at t+τ against the sound at speech frames t.

    Pearson's r re-centres and re-scales over exactly the frames it compares, which is the
    note's z-scoring over speech frames.
    """
    t = np.flatnonzero(speech)
    curve = []
    for tau in range(-MAX_LAG_FRAMES, MAX_LAG_FRAMES + 1):
        keep = t[(t + tau >= 0) & (t + tau < len(aperture))]
        curve.append(_pearson(aperture[keep + tau], envelope[keep]))
    return np.array(curve)


def _parabolic_peak(curve: np.ndarray) -> tuple[float, float]:
    """(sub-frame index, height) of the curve's maximum, refined by a parabola through 3 points."""
    i = int(np.argmax(curve))
    if i == 0 or i == len(curve) - 1:
        return float(i), float(curve[i])
    left, mid, right = curve[i - 1 : i + 2]
    bend = left - 2 * mid + right
    if bend >= 0:
        return float(i), float(mid)
    shift = 0.5 * (left - right) / bend
    return i + shift, float(mid - 0.25 * (left - right) * shift)


def measure(aperture: np.ndarray, envelope: np.ndarray, fps: float) -> SyncReport:
    """Scores a mouth track against the speech envelope sampled at the same frame times."""
    aperture = np.asarray(aperture, np.float64)
    envelope = np.asarray(envelope, np.float64)
    if aperture.shape != envelope.shape:
        raise ValueError(f"aperture {aperture.shape} and envelope {envelope.shape} differ in length")
    threshold = envelope.max() + SPEECH_DB if envelope.size else 0.0
    speech = envelope > threshold
    pauses = [(a, b) for a, b in _runs(~speech) if b - a >= PAUSE_MIN_S * fps]
    p5, p95 = np.percentile(aperture[speech], [5, 95]) if speech.any() else (0.0, 0.0)
    speech_open = float(p95 - p5)
    rest = float(np.percentile(aperture, 5)) if aperture.size else 0.0
    pause_rest = float(np.median(np.concatenate([aperture[a:b] for a, b in pauses])) - rest) if pauses else None

    failures = []
    if speech.sum() < MIN_SPEECH_S * fps:
        failures.append(f"only {speech.sum() / fps:.2f} s of speech; need {MIN_SPEECH_S:.1f} s to measure")
        return SyncReport(float("nan"), 0.0, 0.0, speech_open, pause_rest, failures)

    width = max(1, round(DETREND_S * fps))
    # Silence is "quiet", not −100 dB: clip it to the speech threshold so it cannot dominate.
    env = np.maximum(envelope, threshold)
    env = env - _moving_median(env, width)
    mouth = aperture - _moving_median(aperture, width)
    curve = _lag_curve(mouth, env, speech)
    peak, r = _parabolic_peak(curve)
    moving = bool(np.ptp(mouth[speech]) > 1e-9)
    lag_ms = float((peak - MAX_LAG_FRAMES) * 1000 / fps) if moving else float("nan")
    taus = np.arange(-MAX_LAG_FRAMES, MAX_LAG_FRAMES + 1)
    conf = r - float(np.median(curve[np.abs(taus) >= FAR_LAG_FRAMES]))

    if speech_open < SPEECH_OPEN_MIN:
        failures.append(f"mouth barely opens in speech: {speech_open:.3f} IOD < {SPEECH_OPEN_MIN}")
    if pause_rest is not None and pause_rest >= PAUSE_REST_MAX:
        failures.append(f"mouth does not rest in pauses: {pause_rest:.3f} IOD above rest ≥ {PAUSE_REST_MAX}")
    if not moving:
        failures.append("mouth does not move during speech: no lag to measure")
    elif not LAG_MIN_MS <= lag_ms <= LAG_MAX_MS:
        failures.append(f"lag {lag_ms:+.0f} ms outside {LAG_MIN_MS:+.0f}…{LAG_MAX_MS:+.0f} ms")
    if r < R_MIN:
        failures.append(f"correlation r = {r:.2f} < {R_MIN}")
    if conf < CONF_MIN:
        failures.append(f"confidence {conf:.2f} < {CONF_MIN}")
    return SyncReport(lag_ms, r, conf, speech_open, pause_rest, failures)


def measure_file(path: Path, model_path: Path) -> SyncReport:
    """MASS on a rendered video file, decoded the way a player presents it."""
    audio = read_audio(path)
    times: list[float] = []
    with VideoReader(path) as video:

        def frames() -> Iterable[np.ndarray]:
            for t, rgb in video:
                times.append(t)
                yield rgb

        aperture = mouth_track(frames(), video.fps, model_path)
    envelope = speech_envelope(audio.samples, audio.sample_rate, np.array(times) - audio.start)
    return measure(aperture, envelope, video.fps)
