"""Makes tests/data/fbank_golden.npz: torchaudio's own Kaldi filterbank, the reference that
``maedfer.data.audio`` (pure torch) is tested against in tests/test_audio.py.

It needs torchaudio, which maedfer does not depend on and which may not load beside the
project's torch, so it runs in a virtual environment of its own (several GB to download):

    python3 -m venv /tmp/ta-venv
    /tmp/ta-venv/bin/pip install torch==2.9.1 'torchaudio==2.9.*' numpy
    /tmp/ta-venv/bin/python tests/data/make_fbank_golden.py

The file holds, for a few synthetic 16 kHz waveforms stored as 16-bit samples (``wave_*``,
int16; the waveform is samples / 32768 as ``torchaudio.load`` gives it):

- ``fbank_*``: ``torchaudio.compliance.kaldi.fbank`` with HiCMAE's arguments, (frames, 128);
- ``input_*``: HiCMAE's ``_wav2fbank`` + ``load_audio`` steps with the random gain fixed at 1
  and its zero padding, (1, 256, 128).

``long`` (41,600 samples, 2.6 s: 258 frames, cut to 256) is not stored: it is the other
waveforms repeated, ``long_wave()`` below, which the test repeats. ``chirp``, ``noise`` and
``speech`` are shorter than 2.56 s, so their inputs are padded.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torchaudio
from torchaudio.compliance import kaldi

RATE = 16000
OUT = Path(__file__).with_name("fbank_golden.npz")


def quantise(x: np.ndarray) -> np.ndarray:
    return np.clip(np.round(x * 32768), -32768, 32767).astype(np.int16)


def waves() -> dict[str, np.ndarray]:
    t = np.arange(int(0.4 * RATE)) / RATE  # 6400 samples: 38 frames and a partial one
    chirp = 0.5 * np.sin(2 * np.pi * 100 * (70 ** (t / t[-1]) - 1) * t[-1] / np.log(70))  # 100 Hz -> 7 kHz
    noise = 0.1 * np.random.default_rng(0).standard_normal(int(0.35 * RATE))
    # speech-like: a gliding voice (120-220 Hz) with 30 harmonics under two formants, syllables
    # at 4 Hz, and 0.1 s of digital silence in which every band is at the log floor
    t = np.arange(int(0.9 * RATE)) / RATE
    f0 = 170 + 50 * np.sin(2 * np.pi * 1.5 * t)
    phase = 2 * np.pi * np.cumsum(f0) / RATE
    envelope = {
        k: np.exp(-(((k * 170 - 700) / 300) ** 2)) + 0.5 * np.exp(-(((k * 170 - 1800) / 500) ** 2))
        for k in range(1, 31)
    }
    speech = sum(envelope[k] / k * np.sin(k * phase) for k in envelope)
    speech *= 0.3 * (0.55 - 0.45 * np.cos(2 * np.pi * 4 * t)) / np.abs(speech).max()
    speech[int(0.4 * RATE) : int(0.5 * RATE)] = 0
    return {"chirp": quantise(chirp), "noise": quantise(noise), "speech": quantise(speech)}


def long_wave(stored: dict[str, np.ndarray]) -> np.ndarray:
    """41,600 samples (2.6 s) of the stored waveforms, one after another, repeated."""
    once = np.concatenate([stored["chirp"], stored["noise"], stored["speech"]])
    return np.tile(once, 2)[:41600]


def fbank(waveform: torch.Tensor) -> torch.Tensor:
    """As HiCMAE's kinetics_av.py calls it."""
    return kaldi.fbank(
        waveform,
        htk_compat=True,
        sample_frequency=RATE,
        use_energy=False,
        window_type="hanning",
        num_mel_bins=128,
        dither=0.0,
        frame_shift=10,
    )


def wav2fbank(samples: np.ndarray, mag: float = 1.0) -> torch.Tensor:
    """HiCMAE's load_audio after the window is cut: _wav2fbank (numpy (1, N) float32, its mean
    removed, roll_mag_aug with the gain ``mag``), zero padding / cutting to 256 frames, the
    normalisation, (1, 256, 128)."""
    waveform = (samples.astype(np.float32) / 32768)[None]  # torchaudio.load's scaling
    waveform = waveform - waveform.mean()
    waveform = torch.Tensor(np.roll(waveform, 0) * mag)
    out = fbank(waveform)
    p = 256 - out.shape[0]
    if p > 0:
        out = torch.nn.ZeroPad2d((0, 0, 0, p))(out)
    elif p < 0:
        out = out[0:256, :]
    out = (out - (-4.2677393)) / (4.5689974 * 2)
    return out.unsqueeze(0)


def main() -> None:
    stored = waves()
    data: dict[str, np.ndarray] = {}
    for name, samples in stored.items():
        data[f"wave_{name}"] = samples
        data[f"fbank_{name}"] = fbank(torch.from_numpy(samples.astype(np.float32) / 32768)[None]).numpy()
    for name, samples in {**stored, "long": long_wave(stored)}.items():
        data[f"input_{name}"] = wav2fbank(samples).numpy()
    data["versions"] = np.array([f"torch {torch.__version__}, torchaudio {torchaudio.__version__}"])
    np.savez_compressed(OUT, **data)
    print(OUT, f"{OUT.stat().st_size / 1000:.0f} kB", data["versions"][0])
    for key, value in data.items():
        print(f"  {key}: {value.shape} {value.dtype}")


if __name__ == "__main__":
    main()
