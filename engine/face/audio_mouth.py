"""Mouth controls from the sound alone, for voices that give no phoneme timing.

Loudness in the voice band opens the jaw; where the spectrum's energy sits picks lip shape: a low
centroid rounds the lips (oo, oh), a high one spreads them (ee), strong hiss above 4 kHz shows the
teeth (s, sh). Quiet frames close the mouth.
"""

from __future__ import annotations

import numpy as np

from engine.face.visemes import JAW, MOUTH_CONTROLS, ROUND, UPPER, WIDE

WINDOW_S = 0.04
FLOOR_DB = -40.0  # below this (re the loudest frame) counts as silence


def _spectra(pcm: np.ndarray, sample_rate: int, times: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    audio = pcm.astype(np.float32) / 32768.0
    n = int(WINDOW_S * sample_rate)
    if len(audio) < n or len(times) == 0:
        return None
    starts = np.clip((np.asarray(times) * sample_rate).astype(int) - n // 2, 0, len(audio) - n)
    frames = audio[starts[:, None] + np.arange(n)[None, :]] * np.hanning(n)[None, :]
    return np.abs(np.fft.rfft(frames, axis=1)) ** 2, np.fft.rfftfreq(n, 1.0 / sample_rate)


def _openness(spectrum: np.ndarray, freqs: np.ndarray) -> np.ndarray:
    voice = spectrum[:, (freqs >= 200) & (freqs <= 3000)].sum(axis=1)
    level = 10 * np.log10(voice + 1e-12)
    level -= level.max()
    return np.clip((level - FLOOR_DB) / -FLOOR_DB, 0.0, 1.0) ** 1.5


def loudness(pcm: np.ndarray, sample_rate: int, times: np.ndarray) -> np.ndarray:
    """0 (silence) .. 1 (the chunk's loudest moment) in the voice band, at each time (seconds)."""
    spectra = _spectra(pcm, sample_rate, times)
    return np.zeros(len(times), np.float32) if spectra is None else _openness(*spectra).astype(np.float32)


def mouth_controls_from_audio(pcm: np.ndarray, sample_rate: int, times: np.ndarray) -> np.ndarray:
    out = np.zeros((len(times), len(MOUTH_CONTROLS)), dtype=np.float32)
    spectra = _spectra(pcm, sample_rate, times)
    if spectra is None:
        return out
    spectrum, freqs = spectra
    openness = _openness(spectrum, freqs)

    band = (freqs >= 200) & (freqs <= 4000)
    centroid = (spectrum[:, band] * freqs[band]).sum(axis=1) / (spectrum[:, band].sum(axis=1) + 1e-12)
    hiss = spectrum[:, freqs > 4000].sum(axis=1) / (spectrum.sum(axis=1) + 1e-12)

    out[:, JAW] = 0.9 * openness * (1 - np.clip(hiss * 2, 0, 0.8))
    out[:, ROUND] = openness * np.clip((1100 - centroid) / 600, 0, 1)
    out[:, WIDE] = openness * np.clip((centroid - 1500) / 1000, 0, 1)
    out[:, UPPER] = np.clip(hiss * 2, 0, 1) * (openness > 0)
    # A 3-frame average removes flicker without delaying the mouth against the sound.
    kernel = np.array([0.25, 0.5, 0.25], dtype=np.float32)
    for c in range(out.shape[1]):
        out[:, c] = np.convolve(np.pad(out[:, c], 1, mode="edge"), kernel, mode="valid")
    return out
