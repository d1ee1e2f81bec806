"""Streaming sEMG: causal models give offline log-probs chunk by chunk (any chunk size, hop-aligned
or not), bidirectional ones are windowed, and `keyscribe stream` reports and fails cleanly.

Tolerance: streamed and offline log-probs agree to 1e-5 absolute (float32 sums in another order;
measured ~1e-6), and their best paths are equal."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from helpers.checkpoints import EMG_TINY, HTR_TINY, LINES, REPO, save_untrained
from helpers.cli import assert_user_error, run_cli
from helpers.sessions import key, write_session
from keyscribe import api, builders
from keyscribe.decoding.greedy import IncrementalGreedy, decode_greedy
from keyscribe.domain import get_domain
from keyscribe.emg.streaming import StreamingOptions, StreamingRecognizer
from keyscribe.errors import DataError

TOLERANCE = 1e-5
SAMPLES = 3000  # 1.5 s at 2 kHz: 184 spectrogram frames
CHUNKS = [5, 16, 37, 250, SAMPLES]  # samples; 5 and 37 are not multiples of the hop (16)
ENCODERS = {
    "tdsconv": "{kind: tdsconv, block_channels: [4, 4], kernel_width: 4}",
    "lstm": "{kind: lstm, hidden_size: 8, num_layers: 2, bidirectional: false}",
    "gru": "{kind: gru, hidden_size: 8, num_layers: 1, bidirectional: false}",
    "tdsconv_lstm": "{kind: tdsconv_lstm, block_channels: [4], kernel_width: 5, lstm_hidden_size: 8, lstm_bidirectional: false}",
    "bilstm": "{kind: lstm, hidden_size: 8, num_layers: 1}",
}


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("stream")
    return write_session(
        root / "s.hdf5", SAMPLES, [key("a", 300), key("Key.space", 1400), key("b", 2500)]
    )


def recognizer(encoder: str) -> api.Recognizer:
    cfg = api.load_config(
        REPO / "configs/emg/quickstart.yaml",
        ["model.frontend.mlp_features=[16]", f"model.encoder={ENCODERS[encoder]}"],
    )
    alphabet = get_domain("emg").alphabet(cfg)
    torch.manual_seed(0)
    return api.Recognizer(builders.build_model(cfg, alphabet).eval(), alphabet, cfg)


def streamed(
    rec: api.Recognizer, emg: np.ndarray, chunk: int, options: StreamingOptions | None = None
) -> StreamingRecognizer:
    stream = StreamingRecognizer(rec, options, keep_log_probs=True)
    text = (
        "".join(stream.push(emg[i : i + chunk]) for i in range(0, len(emg), chunk)) + stream.flush()
    )
    assert text == stream.text
    return stream


@pytest.mark.parametrize("encoder", ["tdsconv", "lstm", "gru", "tdsconv_lstm"])
def test_causal_streaming_equals_offline(encoder: str, session: Path) -> None:
    rec = recognizer(encoder)
    dataset = rec.dataset(session)
    offline, n = rec.log_probs(dataset[0])
    offline_ids = decode_greedy(offline[None], torch.tensor([n]), rec.alphabet.blank)[0]
    emg, _ = dataset.session.read(0, SAMPLES)
    for chunk in CHUNKS:
        stream = streamed(rec, emg, chunk)
        assert stream.exact and stream.lookahead_ms == 0
        assert stream.log_probs().shape == offline[:n].shape, chunk
        assert torch.allclose(stream.log_probs(), offline[:n], atol=TOLERANCE, rtol=0), chunk
        assert stream.label_ids == offline_ids, chunk


def test_bidirectional_is_windowed(session: Path) -> None:
    rec = recognizer("bilstm")
    dataset = rec.dataset(session)
    offline, n = rec.log_probs(dataset[0])
    emg, _ = dataset.session.read(0, SAMPLES)
    short = streamed(rec, emg, 80, StreamingOptions(lookahead_ms=40, context_ms=200))
    assert not short.exact and short.lookahead_ms == 40  # 5 frames of 8 ms
    assert short.log_probs().shape == offline[:n].shape
    whole = streamed(
        rec, emg, 80, StreamingOptions(lookahead_ms=2000, context_ms=2000)
    )  # > the session
    assert torch.allclose(whole.log_probs(), offline[:n], atol=TOLERANCE, rtol=0)


def test_incremental_greedy_collapses_across_chunks() -> None:
    blank, labels = 3, [0, 0, 0, 3, 0, 1, 1, 3, 3, 2, 2]
    log_probs = torch.nn.functional.one_hot(torch.tensor(labels), 4).float().log()
    for cut in range(len(labels) + 1):
        greedy = IncrementalGreedy(blank)
        ids = greedy.step(log_probs[:cut]) + greedy.step(log_probs[cut:])
        assert (
            ids
            == decode_greedy(log_probs[None], torch.tensor([len(labels)]), blank)[0]
            == [0, 0, 1, 2]
        )


def test_push_checks_chunks() -> None:
    stream = StreamingRecognizer(recognizer("tdsconv"))
    with pytest.raises(ValueError, match="chunk must be"):
        stream.push(np.zeros((10, 16), np.float32))
    stream.push(np.zeros((10, 2, 16), np.float32))
    bad = np.zeros((10, 2, 16), np.float32)
    bad[3, 1, 5] = np.nan
    with pytest.raises(DataError, match="index 13"):
        stream.push(bad)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("stream_ckpt")
    cfg = api.load_config(REPO / "configs/emg/quickstart.yaml", [*EMG_TINY, f"out_dir={root}"])
    return save_untrained(cfg, root / "emg.ckpt")


def test_cli_stream_json(checkpoint: Path, session: Path, monkeypatch, capsys) -> None:
    code, out, err = run_cli(
        ["stream", checkpoint, session, "--chunk-ms", "25", "--json"], monkeypatch, capsys
    )
    assert code == 0, err
    result = json.loads(out)
    assert result["chunks"] == SAMPLES // 50 and result["chunk_ms"] == 25
    assert (
        result["equal_to_offline"] and result["exact"] and result["text"] == result["offline_text"]
    )
    assert result["max_abs_log_prob_diff"] < TOLERANCE and result["cer_vs_offline"] == 0
    assert (
        result["algorithmic_latency_ms"] == 0
        and 0 < result["mean_chunk_ms"] <= result["p95_chunk_ms"]
    )
    assert result["cer"] == result["offline_cer"] and result["reference_text"] == "a b"


def test_cli_stream_batch_size_governs_the_offline_pass(
    checkpoint: Path, session: Path, monkeypatch, capsys
) -> None:
    runs = {}
    for batch in ("1", "4"):
        args = ["stream", checkpoint, session, "--batch-size", batch, "--json"]
        code, out, err = run_cli(args, monkeypatch, capsys)
        assert code == 0, err
        runs[batch] = json.loads(out)
    assert runs["1"]["offline_text"] == runs["4"]["offline_text"] and runs["4"]["equal_to_offline"]
    code, _, err = run_cli(
        ["stream", checkpoint, session, "--batch-size", "0"], monkeypatch, capsys
    )
    assert code == 2 and "--batch-size" in err


def test_cli_stream_realtime_paces_chunks(
    checkpoint: Path, tmp_path: Path, monkeypatch, capsys
) -> None:
    short = write_session(tmp_path / "short.hdf5", 600)  # 0.3 s
    code, out, err = run_cli(
        ["stream", checkpoint, short, "--realtime", "--json"], monkeypatch, capsys
    )
    assert code == 0, err
    assert json.loads(out)["wall_seconds"] >= 0.3


def test_cli_stream_bad_input(
    checkpoint: Path, session: Path, tmp_path: Path, monkeypatch, capsys
) -> None:
    missing = tmp_path / "missing.hdf5"
    assert_user_error(
        run_cli(["stream", checkpoint, missing], monkeypatch, capsys), missing, "not found"
    )
    gone = tmp_path / "gone.ckpt"
    assert_user_error(run_cli(["stream", gone, session], monkeypatch, capsys), gone, "not found")
    assert_user_error(
        run_cli(["stream", checkpoint, session, "--chunk-ms", "0"], monkeypatch, capsys),
        None,
        "chunk",
    )
    (tmp_path / "htr.yaml").write_text(json.dumps(HTR_TINY), encoding="utf-8")
    cfg = api.load_config(
        tmp_path / "htr.yaml", [f"data.train={LINES}", f"data.val={LINES}", f"out_dir={tmp_path}"]
    )
    htr = save_untrained(cfg, tmp_path / "htr.ckpt")
    assert_user_error(run_cli(["stream", htr, session], monkeypatch, capsys), htr, "sEMG")
    folder = session.parent  # a folder of sessions (or an index) is not one session
    assert_user_error(
        run_cli(["stream", checkpoint, folder], monkeypatch, capsys), folder, "one .hdf5"
    )
    code, _, err = run_cli(["stream", checkpoint, session, "--threads", "0"], monkeypatch, capsys)
    assert code != 0 and "Traceback" not in err


@pytest.mark.parametrize(
    "config", sorted((REPO / "configs/emg/streaming").glob("*.yaml")), ids=lambda p: p.stem
)
def test_streaming_configs_stream_exactly(config: Path) -> None:
    cfg = api.load_config(config)
    alphabet = get_domain("emg").alphabet(cfg)
    rec = api.Recognizer(builders.build_model(cfg, alphabet), alphabet, cfg)
    assert StreamingRecognizer(rec).exact


LM = REPO / "tests" / "fixtures" / "lm" / "tiny.arpa"
BEAM = {"beam_size": 8, "backend": "python"}


@pytest.mark.parametrize("lm", [None, LM])
def test_streaming_beam_search_equals_offline_beam_search(lm: Path | None, session: Path) -> None:
    """Carried across chunks, the search gives offline beam search's output; what each push
    returns is stable: a prefix of the final output, never taken back."""
    rec = recognizer("tdsconv")
    dataset = rec.dataset(session)
    offline, n = rec.log_probs(dataset[0])
    expected = list(rec.use_decoder("beam", lm, BEAM).beam.decode(offline[:n])[0].label_ids)
    emg, _ = dataset.session.read(0, SAMPLES)
    for chunk in (37, 250):
        stream = StreamingRecognizer(rec, decoder="beam", lm=lm, beam_options=BEAM)
        shown = ""
        for i in range(0, len(emg), chunk):
            shown += stream.push(emg[i : i + chunk])
            assert shown == stream.text
            assert rec.alphabet.encode(shown + stream.tentative)[: len(stream.label_ids)] == (
                stream.label_ids
            )
            assert expected[: len(stream.label_ids)] == stream.label_ids, chunk
        shown += stream.flush()
        assert stream.label_ids == expected and shown == stream.text, chunk


def test_cli_stream_beam_json(checkpoint: Path, session: Path, monkeypatch, capsys) -> None:
    args = ["stream", checkpoint, session, "--decoder", "beam", "--lm", LM, "--beam-size", "8"]
    code, out, err = run_cli([*args, "--json"], monkeypatch, capsys)
    assert code == 0, err
    result = json.loads(out)
    assert result["decoder"] == "beam" and result["lm"] == str(LM)
    assert result["equal_to_offline"] and result["text"] == result["offline_text"]
    assert result["cer"] == result["offline_cer"]
