"""Audio for HiCMAE: reading a track, the window of a video clip, and the log-mel input.

- :func:`read_audio`: any video or wav file, decoded with PyAV, as mono 16 kHz float32 in
  [-1, 1] (what HiCMAE's ``torchaudio.load`` gives for its 16 kHz 16-bit wavs); other rates,
  channel counts and sample formats are converted, not refused.
- :func:`finetune_audio_span` and :func:`pretrain_audio_span`: which samples go with a clip's
  frames, by the original's two rules; :func:`cut_window` cuts them out.
- :func:`kaldi_fbank`: ``torchaudio.compliance.kaldi.fbank`` with HiCMAE's arguments, in pure
  torch (torchaudio is not a dependency); :func:`hicmae_fbank`: the model input (1, 256, 128)
  made from it as the original's ``_wav2fbank`` does, with two of its quirks fixed by default.

Problems raise :class:`AudioReadError` naming the file and the problem in one line.
"""

from __future__ import annotations

import functools
import math
import os
from pathlib import Path
from typing import Literal, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import AudioReadError, MaedferError
from ..files import regular_file

SAMPLE_RATE = 16000
NUM_MEL_BINS = 128
TARGET_FRAMES = 256  # 2.56 s of 10 ms frames (HiCMAE's input_size_audio)
FRAME_LENGTH, FRAME_SHIFT, FFT_SIZE = 400, 160, 512  # 25 ms, 10 ms, the next power of two
LOG_FLOOR = float(torch.finfo(torch.float32).eps)  # torchaudio's floor before the log: 1.1920929e-07
# AudioMAE's AudioSet statistics; HiCMAE divides by twice the std.
FBANK_MEAN, FBANK_STD = -4.2677393, 4.5689974
# A window whose peak (after removing its mean) is below this is silence: -80 dBFS, about 3
# steps of 16-bit audio. Its filterbank would be the log floor everywhere.
SILENCE_PEAK = 1e-4
MIN_WINDOW = 1024  # the original's smallest fine-tuning window, in samples


def read_audio(path: str | os.PathLike, start: float | None = None, end: float | None = None) -> torch.Tensor:
    """The first audio stream of a video or audio file as mono 16 kHz float32, shape (N,).

    Channels are averaged; any sample rate is resampled to 16 kHz (FFmpeg's resampler) and
    any sample format scaled to [-1, 1] as ``torchaudio.load`` does (16-bit: x / 32768,
    8-bit unsigned: (x - 128) / 128, 24/32-bit: x / 2^23 or 2^31, float as it is). Time 0 is
    the first audio sample, as in a wav extracted with ``ffmpeg -i video -vn``.

    ``start``/``end`` (seconds) read the samples from ``round(start * 16000)`` to
    ``round(end * 16000)``; the default is the whole file. A file without audio, corrupt or
    truncated (a wav holding fewer samples than its header declares), audio ending before
    ``end``, or a silent result raise :class:`AudioReadError`."""
    path = regular_file(path, "media file", AudioReadError)
    if start is not None and start < 0 or end is not None and end <= (start or 0):
        raise AudioReadError(f"{path}: bad audio window {start}–{end} s (0 <= start < end expected)")
    first = 0 if start is None else round(start * SAMPLE_RATE)
    stop = None if end is None else round(end * SAMPLE_RATE)
    wave = _decode(path, stop)
    if stop is None and 0 < len(wave) <= first:
        raise AudioReadError(f"{path}: audio is {len(wave) / SAMPLE_RATE:.2f} s long, it ends before {start:.2f} s")
    return cut_window(wave, (first, len(wave) if stop is None else stop), path)


def cut_window(wave: torch.Tensor, span: tuple[int, int], name: str | os.PathLike) -> torch.Tensor:
    """``wave[span[0]:span[1]]`` of a 16 kHz track, refused (naming ``name``) when the track
    ends before the span does or the window is silent: a silent window would give the model
    a constant input that says nothing, and an original run would have used it unnoticed."""
    first, stop = span
    if not len(wave):
        raise AudioReadError(f"{name}: audio stream holds no samples")
    if not 0 <= first < stop:
        raise AudioReadError(f"{name}: bad audio span {first}–{stop} (0 <= start < end expected)")
    where = "audio" if span == (0, len(wave)) else f"audio window {first / SAMPLE_RATE:.2f}–{stop / SAMPLE_RATE:.2f} s"
    if stop > len(wave):
        raise AudioReadError(
            f"{name}: audio is {len(wave) / SAMPLE_RATE:.2f} s long, shorter than the {where} asked for"
        )
    window = wave[first:stop]
    peak = float((window - window.mean()).abs().max())
    if peak < SILENCE_PEAK:
        raise AudioReadError(f"{name}: {where} is silent (peak {peak:.1e} < {SILENCE_PEAK:g})")
    return window


def _decode(path: Path, stop: int | None) -> torch.Tensor:
    """Decode the first audio stream at 16 kHz until ``stop`` samples (None: all of it)."""
    import av

    try:
        container = av.open(str(path))
    except (av.error.FFmpegError, OSError, UnicodeDecodeError) as e:
        raise AudioReadError(f"{path}: cannot open audio ({type(e).__name__}: {e})") from None
    with container:
        if not container.streams.audio:
            raise AudioReadError(f"{path}: has no audio stream")
        stream = container.streams.audio[0]
        # Keep the channels through the resampler and average them after: FFmpeg's own
        # float down-mix gives (L + R) / sqrt(2), not the average.
        resampler = av.AudioResampler(format="fltp", layout=stream.layout, rate=SAMPLE_RATE)
        chunks, got, decoded, complete = [], 0, 0, False
        try:
            for frame in container.decode(stream):
                decoded += frame.samples
                for out in resampler.resample(frame):
                    chunks.append(out.to_ndarray())
                    got += out.samples
                if stop is not None and got >= stop:
                    break  # the window is in: no need to decode the rest of a long video
            else:
                chunks += [out.to_ndarray() for out in resampler.resample(None)]
                complete = True
        except av.error.FFmpegError as e:
            raise AudioReadError(f"{path}: corrupt audio ({type(e).__name__}: {e})") from None
        rate = stream.rate
    declared = _wav_declared_samples(path)
    # PyAV stops quietly at the end of a truncated wav (and sizes its duration from the file,
    # not the header): only the header tells that samples are missing.
    if complete and declared is not None and decoded < declared:
        raise AudioReadError(
            f"{path}: truncated audio: the header declares {declared / rate:.2f} s, "
            f"the file holds {decoded / rate:.2f} s"
        )
    if not chunks:
        return torch.zeros(0)
    return torch.from_numpy(np.concatenate(chunks, axis=1).mean(axis=0, dtype=np.float32))


def _wav_declared_samples(path: Path) -> int | None:
    """The sample count a RIFF/WAVE header declares (data size / block size), or None for
    other files and for headers written by streaming tools (size 0 or 0xFFFFFFFF)."""
    with open(path, "rb") as f:
        if f.read(4) != b"RIFF" or not f.read(4) or f.read(4) != b"WAVE":
            return None
        block = None
        while len(head := f.read(8)) == 8:
            kind, size = head[:4], int.from_bytes(head[4:], "little")
            if kind == b"fmt ":
                block = int.from_bytes(f.read(size)[12:14], "little")  # nBlockAlign
                f.seek(size & 1, os.SEEK_CUR)  # chunks are padded to an even size
            elif kind == b"data":
                return size // block if block and size not in (0, 0xFFFFFFFF) else None
            else:
                f.seek(size + (size & 1), os.SEEK_CUR)
    return None


def finetune_audio_span(
    frame_indices: Sequence[int],
    num_frames: int,
    num_samples: int,
    stride: int = 4,
    view: Literal["train", "test"] = "train",
    name: str | os.PathLike = "audio",
) -> tuple[int, int]:
    """The samples [a, b) of a file of ``num_samples`` that go with a fine-tuning clip of a
    ``num_frames``-frame video (the original's ``VideoClsDatasetFrame.load_audio``).

    Frame i sits at relative time rel(i) = i / (num_frames - 1) (0 for a one-frame video); the
    window is a = int(rel(start) * N), b = int(rel(end) * N), from the first sampled frame
    to end = min(first + len(frame_indices) * stride, num_frames - 1) for a training clip,
    or end = min(last + stride, num_frames - 1) for a test view. ``stride``: the clip's frame
    sampling rate (4). A window of 1024 samples or fewer is replaced by the whole file when
    that is shorter than 2.56 s; otherwise it raises, as the original does."""
    first = frame_indices[0]
    end = min(first + len(frame_indices) * stride if view == "train" else frame_indices[-1] + stride, num_frames - 1)

    def relative(i: int) -> float:
        return 0.0 if num_frames == 1 else i / (num_frames - 1.0)

    a, b = int(relative(first) * num_samples), int(relative(end) * num_samples)
    if b - a > MIN_WINDOW:
        return a, b
    if num_samples < TARGET_FRAMES / 100 * SAMPLE_RATE:
        return 0, num_samples
    raise AudioReadError(
        f"{name}: the audio of frames {first}–{end} of {num_frames} is {b - a} samples, "
        f"too short for a filterbank (more than {MIN_WINDOW} needed)"
    )


def pretrain_audio_span(frame_indices: Sequence[int], num_frames: int, fps: float, stride: int = 4) -> tuple[int, int]:
    """The 16 kHz samples [a, b) that go with a pre-training clip (the original's
    ``_audio_decord_batch_loader``), by time stamps: from the start of the first sampled
    frame f0 to the end of frame e = min(f0 + len(frame_indices) * stride, num_frames - 1),
    frame i lasting [i / fps, (i + 1) / fps); a = int(start * 16000) and b = a +
    int((end - start) * 16000). 16 frames at stride 4 and 25 fps: 2.6 s, 41,600 samples."""
    first = frame_indices[0]
    last = min(first + len(frame_indices) * stride, num_frames - 1)
    start, end = first / fps, (last + 1) / fps
    a = int(start * SAMPLE_RATE)
    return a, a + int((end - start) * SAMPLE_RATE)


@functools.lru_cache(maxsize=1)
def _window_and_banks() -> tuple[torch.Tensor, torch.Tensor]:
    """The Hanning window (400) and the mel banks (128, 256), computed in float32 with
    torchaudio's own arithmetic (``get_mel_banks``) so that the results agree to rounding."""
    window = torch.hann_window(FRAME_LENGTH, periodic=False)

    def mel(hz: torch.Tensor) -> torch.Tensor:
        return 1127.0 * torch.log(1.0 + hz / 700.0)

    # the band edges in float64 (torchaudio's mel_scale_scalar uses math.log), the rest in float32
    low, high = (1127.0 * math.log(1.0 + hz / 700.0) for hz in (20.0, SAMPLE_RATE / 2))
    delta = (high - low) / (NUM_MEL_BINS + 1)
    bin = torch.arange(NUM_MEL_BINS).unsqueeze(1)
    left, centre, right = low + bin * delta, low + (bin + 1.0) * delta, low + (bin + 2.0) * delta
    # FFT bins 0..255 (31.25 Hz apart); bin 256 (Nyquist) gets weight 0, added in kaldi_fbank
    at = mel(SAMPLE_RATE / FFT_SIZE * torch.arange(FFT_SIZE // 2)).unsqueeze(0)
    banks = torch.clamp(torch.min((at - left) / (centre - left), (right - at) / (right - centre)), min=0.0)
    return window, banks


def kaldi_fbank(wave: torch.Tensor) -> torch.Tensor:
    """Log-mel filterbank (frames, 128) of a 16 kHz waveform (N,), equal to HiCMAE's
    ``torchaudio.compliance.kaldi.fbank(w, htk_compat=True, sample_frequency=16000,
    use_energy=False, window_type='hanning', num_mel_bins=128, dither=0.0, frame_shift=10)``:
    1 + (N - 400) // 160 frames of 25 ms every 10 ms (no frame past the end), each with its
    mean removed, pre-emphasis 0.97, a symmetric Hanning window, a 512-point FFT's power,
    128 triangular mel bands from 20 Hz to 8 kHz, and the log floored at 1.19e-07."""
    wave = torch.as_tensor(wave, dtype=torch.float32).reshape(-1)
    if len(wave) < FRAME_LENGTH:
        raise MaedferError(f"waveform: {len(wave)} samples, fewer than one 25 ms frame ({FRAME_LENGTH})")
    window, banks = _window_and_banks()
    frames = wave.unfold(0, FRAME_LENGTH, FRAME_SHIFT)
    frames = frames - frames.mean(dim=1, keepdim=True)
    previous = torch.cat([frames[:, :1], frames[:, :-1]], dim=1)  # the first sample is its own predecessor
    frames = (frames - 0.97 * previous) * window
    power = torch.fft.rfft(frames, n=FFT_SIZE).abs().pow(2.0)
    return torch.clamp(power[:, : FFT_SIZE // 2] @ banks.T, min=LOG_FLOOR).log()


def random_gain(rng: np.random.Generator | None = None) -> float:
    """HiCMAE's ``roll_mag_aug`` gain, Beta(10, 10) + 0.5 (between 0.5 and 1.5, mostly near
    1), from ``rng`` or, as the original, numpy's global state. Its "roll" is left out: on a
    (1, N) waveform it always rolls by 0."""
    return float((rng.beta if rng is not None else np.random.beta)(10, 10)) + 0.5


def hicmae_fbank(
    wave: torch.Tensor,
    gain: float = 1.0,
    pad: Literal["silence", "original"] = "silence",
    frames: int = TARGET_FRAMES,
) -> torch.Tensor:
    """HiCMAE's audio input (1, frames, 128) from a 16 kHz window (the original's
    ``_wav2fbank`` and ``load_audio``): the window's mean removed, times ``gain``,
    :func:`kaldi_fbank`, the first ``frames`` frames kept or the rest padded, normalised as
    (x + 4.2677393) / (2 * 4.5689974).

    Two quirks of the original are fixed by default and kept on request:

    - ``gain``: the original multiplies by a random gain at every call, at test time too
      (quirk 3), which makes evaluation random. Default 1 (none); a training pipeline that
      wants the augmentation passes ``gain=random_gain(rng)``.
    - ``pad``: ``"silence"`` pads short windows with what silence reads, the log floor
      normalised (-1.278); ``"original"`` pads with zeros before normalising, as the
      original does, so that padded rows read +0.467, louder than most speech (quirk 5)."""
    if pad not in ("silence", "original"):
        raise MaedferError(f"pad: expected 'silence' or 'original', got {pad!r}")
    wave = torch.as_tensor(wave, dtype=torch.float32).reshape(-1)
    wave = wave - wave.mean()
    if gain != 1.0:
        wave = wave * gain  # in float32, as the original's numpy multiply
    fbank = kaldi_fbank(wave)[:frames]
    fill = 0.0 if pad == "original" else math.log(LOG_FLOOR)
    fbank = F.pad(fbank, (0, 0, 0, frames - len(fbank)), value=fill)
    return ((fbank - FBANK_MEAN) / (FBANK_STD * 2)).unsqueeze(0)
