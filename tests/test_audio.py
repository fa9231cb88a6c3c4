"""HiCMAE's audio front end (maedfer/data/audio.py): the filterbank against torchaudio's own
(tests/data/fbank_golden.npz, made by tests/data/make_fbank_golden.py), the model input and its
two quirk modes, reading wav and video files of every common kind, the clip windows, and each
bad input's one-line error."""

from __future__ import annotations

import math
import wave
from pathlib import Path

import av
import numpy as np
import pytest
import torch

from maedfer.data.audio import (
    FBANK_MEAN,
    FBANK_STD,
    cut_window,
    finetune_audio_span,
    hicmae_fbank,
    kaldi_fbank,
    pretrain_audio_span,
    random_gain,
    read_audio,
)
from maedfer.data.writers import write_video
from maedfer.errors import AudioReadError, MaedferError

GOLDEN = np.load(Path(__file__).parent / "data" / "fbank_golden.npz")
NAMES = ("chirp", "noise", "speech")
ORIGINAL_PAD = (0 - FBANK_MEAN) / (2 * FBANK_STD)  # a zero row normalised: +0.467
SILENCE_PAD = (math.log(1.1920929e-07) - FBANK_MEAN) / (2 * FBANK_STD)  # the log floor normalised: -1.278


def golden_wave(name: str) -> torch.Tensor:
    if name == "long":  # as make_fbank_golden.long_wave: the stored waveforms repeated to 2.6 s
        samples = np.tile(np.concatenate([GOLDEN[f"wave_{n}"] for n in NAMES]), 2)[:41600]
    else:
        samples = GOLDEN[f"wave_{name}"]
    return torch.from_numpy(samples.astype(np.float32) / 32768)


# --- the filterbank and the model input ---------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_fbank_matches_torchaudio(name):
    ours = kaldi_fbank(golden_wave(name)).numpy()
    reference = GOLDEN[f"fbank_{name}"]
    assert ours.shape == reference.shape == (1 + (len(golden_wave(name)) - 400) // 160, 128)
    assert np.abs(ours - reference).max() <= 1e-4


def test_golden_covers_the_log_floor_and_loud_bands():
    # the speech-like wave has 0.1 s of digital silence (frames at the floor) and loud bands
    speech = GOLDEN["fbank_speech"]
    assert speech.min() == pytest.approx(math.log(1.1920929e-07))
    assert (speech == speech.min()).all(axis=1).sum() >= 5 and speech.max() > 0
    assert "torchaudio" in str(GOLDEN["versions"][0])


@pytest.mark.parametrize("name", [*NAMES, "long"])
def test_model_input_matches_the_original_with_gain_1(name):
    reference = GOLDEN[f"input_{name}"]
    ours = hicmae_fbank(golden_wave(name), pad="original").numpy()
    assert ours.shape == reference.shape == (1, 256, 128)
    assert np.abs(ours - reference).max() <= 1e-4


def test_padding_modes():
    wave = golden_wave("chirp")  # 38 frames
    original, fixed = hicmae_fbank(wave, pad="original"), hicmae_fbank(wave)
    assert original[0, 38:].unique().tolist() == [pytest.approx(0.46703, abs=1e-5)]
    assert fixed[0, 38:].unique().tolist() == [pytest.approx(-1.27760, abs=1e-5)]
    assert ORIGINAL_PAD == pytest.approx(0.467, abs=5e-4) and SILENCE_PAD == pytest.approx(-1.278, abs=5e-4)
    assert torch.equal(original[0, :38], fixed[0, :38])
    # the fixed padding reads what a silent stretch of the signal reads
    floor_rows = (GOLDEN["fbank_speech"] == GOLDEN["fbank_speech"].min()).all(axis=1)
    silent_rows = GOLDEN["input_speech"][0, :88][floor_rows]
    assert np.abs(silent_rows - fixed[0, 38].numpy()).max() < 1e-6
    # a window longer than 2.56 s is cut, so both modes agree
    assert torch.equal(hicmae_fbank(golden_wave("long"), pad="original"), hicmae_fbank(golden_wave("long")))
    with pytest.raises(MaedferError, match="pad: expected 'silence' or 'original', got 'zeros'"):
        hicmae_fbank(wave, pad="zeros")


def test_gain_off_by_default_and_explicit_when_asked():
    wave = golden_wave("noise")
    first, second = hicmae_fbank(wave), hicmae_fbank(wave)
    assert torch.equal(first, second)  # no random gain: evaluation is deterministic
    # a gain g shifts every band above the floor by 2 ln g before normalising (some narrow
    # low bands hold no FFT bin at all: they stay at the floor, gain or not)
    louder = hicmae_fbank(wave, gain=1.3)
    above = torch.from_numpy(GOLDEN["fbank_noise"] > -15)
    shift = (louder - first)[0, : len(above)]
    assert above.float().mean() > 0.95
    assert shift[above].min().item() == pytest.approx(2 * math.log(1.3) / (2 * FBANK_STD), abs=1e-4)
    assert shift[above].max().item() == pytest.approx(2 * math.log(1.3) / (2 * FBANK_STD), abs=1e-4)
    assert (shift[~above] == 0).all()
    gains = [random_gain(np.random.default_rng(7)) for _ in range(2)]
    assert gains[0] == gains[1]  # the same generator, the same gain
    draws = np.array([random_gain(np.random.default_rng(seed)) for seed in range(400)])
    assert 0.5 < draws.min() and draws.max() < 1.5 and draws.mean() == pytest.approx(1.0, abs=0.02)
    assert draws.std() == pytest.approx(math.sqrt(0.25 / 21), rel=0.15)  # Beta(10, 10)'s std


def test_fbank_frame_count_and_minimum_length():
    wave = torch.randn(560, generator=torch.Generator().manual_seed(0))
    assert kaldi_fbank(wave[:400]).shape == (1, 128)
    assert kaldi_fbank(wave[:559]).shape == (1, 128)  # no frame past the end (snip_edges)
    assert kaldi_fbank(wave).shape == (2, 128)
    with pytest.raises(MaedferError, match=r"^waveform: 399 samples, fewer than one 25 ms frame \(400\)$"):
        kaldi_fbank(wave[:399])


# --- reading ------------------------------------------------------------------------------


def write_wav(path: Path, samples: np.ndarray, rate: int, width: int) -> Path:
    """Integer PCM samples (N,) or (N, channels) as a wav of ``width`` bytes per sample."""
    samples = samples[:, None] if samples.ndim == 1 else samples
    if width == 1:
        data = samples.astype(np.uint8).tobytes()
    elif width == 3:  # little-endian 24-bit: the low three bytes of each int32
        data = samples.astype("<i4").view(np.uint8).reshape(-1, 4)[:, :3].tobytes()
    else:
        data = samples.astype(f"<i{width}").tobytes()
    with wave.open(str(path), "wb") as w:
        w.setnchannels(samples.shape[1])
        w.setsampwidth(width)
        w.setframerate(rate)
        w.writeframes(data)
    return path


def tone(rate: int, seconds: float, hz: float = 440.0, amplitude: float = 0.5) -> np.ndarray:
    return amplitude * np.sin(2 * np.pi * hz * np.arange(int(rate * seconds)) / rate)


def peak_hz(wave: torch.Tensor) -> float:
    return float(np.argmax(np.abs(np.fft.rfft(wave.numpy()))) * 16000 / len(wave))


def test_reads_16k_mono_16bit_exactly(tmp_path):
    samples = np.round(tone(16000, 1.0) * 32767).astype(np.int16)
    path = write_wav(tmp_path / "a.wav", samples, 16000, 2)
    got = read_audio(path)
    assert got.dtype == torch.float32 and got.shape == (16000,)
    assert torch.equal(got, torch.from_numpy(samples / np.float32(32768)))  # torchaudio.load's scaling
    window = read_audio(path, 0.25, 0.5)
    assert torch.equal(window, got[4000:8000])


def test_converts_44k_stereo_to_16k_mono(tmp_path):
    left = np.round(tone(44100, 1.0) * 32767)
    path = write_wav(tmp_path / "stereo.wav", np.stack([left, left // 2], axis=1), 44100, 2)
    got = read_audio(path)
    assert got.shape == (16000,)
    assert peak_hz(got) == pytest.approx(440, abs=1)  # the tone survives resampling
    # channels averaged: (1 + 1/2) / 2 of the left channel's 0.5
    assert got[100:-100].abs().max().item() == pytest.approx(0.375, abs=2e-3)
    assert torch.equal(read_audio(path, 0.25, 0.5), got[4000:8000])  # a window is a slice of the whole


@pytest.mark.parametrize(
    "width, to_int, scale",
    [
        (1, lambda x: np.round(x * 127) + 128, lambda s: (s - 128) / 128),
        (3, lambda x: np.round(x * 8388607), lambda s: s / 2**23),
    ],
    ids=["8-bit unsigned", "24-bit"],
)
def test_converts_8_and_24_bit(tmp_path, width, to_int, scale):
    samples = to_int(tone(16000, 0.5))
    got = read_audio(write_wav(tmp_path / "a.wav", samples, 16000, width))
    assert got.shape == (8000,)
    assert np.abs(got.numpy() - scale(samples)).max() < 1e-6


def test_reads_32bit_float_wav_and_video_audio(tmp_path):
    path = tmp_path / "float.wav"
    samples = tone(22050, 0.5).astype(np.float32)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("pcm_f32le", rate=22050, layout="mono")
        frame = av.AudioFrame.from_ndarray(samples[None], format="flt", layout="mono")
        frame.sample_rate = 22050
        for packet in [*stream.encode(frame), *stream.encode()]:
            container.mux(packet)
    got = read_audio(path)
    assert got.shape == (8000,) and peak_hz(got) == pytest.approx(440, abs=2)
    assert got[100:-100].abs().max().item() == pytest.approx(0.5, abs=2e-3)

    video = video_with_audio(tmp_path / "clip.mp4", seconds=1.0)
    got = read_audio(video)
    assert abs(len(got) - 16000) < 160  # AAC pads its last frame: within 10 ms
    assert peak_hz(got) == pytest.approx(440, abs=2)
    assert read_audio(video, 0.2, 0.6).shape == (6400,)


def video_with_audio(path: Path, seconds: float) -> Path:
    """A tiny mp4: mpeg4 video at 25 fps and a 48 kHz stereo AAC 440 Hz tone."""
    samples = np.stack([tone(48000, seconds)] * 2).astype(np.float32)
    with av.open(str(path), "w") as container:
        video = container.add_stream("mpeg4", rate=25)
        video.width, video.height, video.pix_fmt = 32, 32, "yuv420p"
        audio = container.add_stream("aac", rate=48000, layout="stereo")
        packets = []
        for i in range(int(25 * seconds)):
            packets += video.encode(av.VideoFrame.from_ndarray(np.full((32, 32, 3), 8 * i, np.uint8), format="rgb24"))
        for start in range(0, samples.shape[1], 1024):
            frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(samples[:, start : start + 1024]), "fltp", "stereo")
            frame.sample_rate, frame.pts = 48000, start
            packets += audio.encode(frame)
        for packet in [*packets, *video.encode(), *audio.encode()]:
            container.mux(packet)
    return path


def one_line_error(path, *window) -> str:
    with pytest.raises(AudioReadError) as caught:
        read_audio(path, *window)
    message = str(caught.value)
    assert "\n" not in message and message.startswith(str(path))
    return message


def test_bad_inputs_get_one_line(tmp_path):
    # a video without audio
    silent_film = write_video(tmp_path / "film.mp4", np.zeros((5, 32, 32, 3), np.uint8))
    assert one_line_error(silent_film) == f"{silent_film}: has no audio stream"
    # a wav cut short: PyAV reads what is there without complaint; the header says more
    samples = np.round(tone(16000, 1.0) * 32767).astype(np.int16)
    whole = write_wav(tmp_path / "whole.wav", samples, 16000, 2).read_bytes()
    cut = tmp_path / "cut.wav"
    cut.write_bytes(whole[: 44 + 2 * 6000 + 1])
    assert one_line_error(cut) == f"{cut}: truncated audio: the header declares 1.00 s, the file holds 0.38 s"
    assert len(read_audio(cut, 0.0, 0.25)) == 4000  # a window within what is there is fine
    # not audio at all
    junk = tmp_path / "junk.wav"
    junk.write_bytes(b"RIFF\x00\x01\x00\x00WAVEnot a format chunk" * 10)
    assert one_line_error(junk).startswith(f"{junk}: cannot open audio (")
    # a window past the end
    path = write_wav(tmp_path / "short.wav", samples, 16000, 2)
    assert one_line_error(path, 0.5, 2.0) == (
        f"{path}: audio is 1.00 s long, shorter than the audio window 0.50–2.00 s asked for"
    )
    # silence: a whole silent file, and a silent window in a file that is not
    quiet = write_wav(tmp_path / "quiet.wav", np.zeros(16000, np.int16), 16000, 2)
    assert one_line_error(quiet) == f"{quiet}: audio is silent (peak 0.0e+00 < 0.0001)"
    gap = samples.copy()
    gap[8000:] = 1  # one step of 16-bit: a constant offset, silence all the same
    gapped = write_wav(tmp_path / "gap.wav", gap, 16000, 2)
    assert one_line_error(gapped, 0.5, 1.0) == f"{gapped}: audio window 0.50–1.00 s is silent (peak 0.0e+00 < 0.0001)"
    assert len(read_audio(gapped, 0.25, 0.75)) == 8000
    assert one_line_error(tmp_path / "nowhere.wav") == f"{tmp_path / 'nowhere.wav'}: no such media file"
    empty = write_wav(tmp_path / "empty.wav", np.zeros(0, np.int16), 16000, 2)  # a header and no samples
    assert one_line_error(empty) == f"{empty}: audio stream holds no samples"
    assert one_line_error(path, 0.5, 0.5) == f"{path}: bad audio window 0.5–0.5 s (0 <= start < end expected)"
    assert one_line_error(path, 1.5) == f"{path}: audio is 1.00 s long, it ends before 1.50 s"
    assert len(read_audio(path, 0.75)) == 4000  # from 0.75 s to the end


# --- the windows of a clip ----------------------------------------------------------------


def test_finetune_span():
    n = 64000  # 4 s of audio for a 100-frame clip: frame i at i / 99 of it
    train = list(range(10, 74, 4))  # 16 frames from 10: end = 10 + 16 * 4 = 74
    assert finetune_audio_span(train, 100, n) == (int(10 / 99 * n), int(74 / 99 * n)) == (6464, 47838)
    test_view = list(range(0, 64, 4))  # a test view ends one stride past its last frame
    assert finetune_audio_span(test_view, 100, n, view="test") == (0, 41373)
    assert finetune_audio_span(list(range(60, 124, 4)), 100, n, view="train")[1] == n  # end capped at frame 99
    assert finetune_audio_span([0] * 16, 30, 30000) == (0, 30000)  # a short clip: all of it
    assert finetune_audio_span([0] * 16, 1, 20000) == (0, 20000)  # one frame: the whole (short) file
    # a window of 1024 samples or fewer: the whole file if it is under 2.56 s, else an error
    assert finetune_audio_span([98], 100, 40000) == (0, 40000)
    with pytest.raises(AudioReadError, match=r"^a\.wav: the audio of frames 98–99 of 100 is 1011 samples, too short"):
        finetune_audio_span([98], 100, 100000, name="a.wav")


def test_pretrain_span_and_cut():
    frames = list(range(10, 74, 4))  # 16 frames at stride 4 from 10, 25 fps: 0.4 s to the end of frame 74
    assert pretrain_audio_span(frames, 300, 25.0) == (6400, 6400 + 41600)  # 2.6 s, 258 fbank frames
    assert pretrain_audio_span(list(range(280, 300)), 300, 25.0) == (179200, 192000)  # capped at the last frame
    wave = golden_wave("long")
    assert hicmae_fbank(cut_window(wave, (0, 41600), "a.wav")).shape == (1, 256, 128)
    with pytest.raises(AudioReadError, match=r"^a\.wav: audio is 2\.60 s long, shorter than the audio window"):
        cut_window(wave, (6400, 48000), "a.wav")
    with pytest.raises(AudioReadError, match=r"^a\.wav: bad audio span 100–100 \(0 <= start < end expected\)$"):
        cut_window(wave, (100, 100), "a.wav")
