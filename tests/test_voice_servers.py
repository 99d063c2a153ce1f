"""The voice-server backends against servers on loopback that speak each protocol's wire format.

No real GPT-SoVITS, CosyVoice or XTTS server can run here: each needs a GPU-sized model that must be
downloaded. Nor is there an OpenAI-speech server with a bundled model on PyPI (Kokoro-FastAPI and
openedai-speech ship as Docker images and download their voices). So an aiohttp server in a thread
replays what the real servers send, as their sources write it: a chunked body sent piece by piece,
raw 16-bit PCM (OpenAI "pcm" at 24 kHz, CosyVoice at 22.05 kHz, XTTS at 24 kHz) or, for GPT-SoVITS,
a WAV header whose sizes are 0 followed by raw PCM. espeak stands in for piper as the offline voice.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import threading
import time
import wave
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from aiohttp import web

from engine.app import voice_clone
from engine.config import ConfigError, VoiceConfig, load_config, state_dir
from engine.errors import CohostError
from engine.voice.base import SpeechChunk
from engine.voice.espeak import EspeakBackend
from engine.voice.server import load_server_voice
from engine.voice.server.voice import ServerVoice
from tests.harness.process import free_port
from tests.harness.web import serve_app

KEY = "sk-voice-secret-4242"
LOGGER = "engine.voice.server.voice"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class Seen:
    """One request the server got."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    form: dict[str, bytes | str] = field(default_factory=dict)

    @property
    def json(self) -> dict:
        return json.loads(self.body)


class Server:
    """A loopback server on its own event loop; handlers see `stop`, set when the test ends."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()
        self.stop = asyncio.run_coroutine_threadsafe(self._event(), self.loop).result(5)
        self.seen: list[Seen] = []
        self._runners: list[web.AppRunner] = []

    async def _event(self) -> asyncio.Event:
        return asyncio.Event()

    def serve(self, routes: dict[tuple[str, str], Handler]) -> str:
        async def start() -> int:
            app = web.Application()
            for (method, path), handler in routes.items():
                app.router.add_route(method, path, self._recording(handler))
            runner, port = await serve_app(app)
            self._runners.append(runner)
            return port

        return f"http://127.0.0.1:{asyncio.run_coroutine_threadsafe(start(), self.loop).result(5)}"

    def _recording(self, handler: Handler) -> Handler:
        async def record(request: web.Request) -> web.StreamResponse:
            seen = Seen(request.method, request.path, dict(request.headers), b"")
            if request.content_type == "multipart/form-data":
                async for part in await request.multipart():
                    data = await part.read()
                    seen.form[part.name] = bytes(data) if part.filename else data.decode()
            else:
                seen.body = await request.read()
            self.seen.append(seen)
            return await handler(request)

        return record

    def call(self, action: Callable[[], None]) -> None:
        self.loop.call_soon_threadsafe(action)

    def close(self) -> None:
        self.call(self.stop.set)
        for runner in self._runners:
            asyncio.run_coroutine_threadsafe(runner.cleanup(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)


@pytest.fixture
def server() -> Iterator[Server]:
    s = Server()
    yield s
    s.close()


@pytest.fixture(scope="module")
def espeak() -> EspeakBackend:
    return EspeakBackend("en-us")


def tone(seconds: float, rate: int) -> bytes:
    t = np.arange(round(seconds * rate)) / rate
    return (8000 * np.sin(2 * np.pi * 220 * t)).astype("<i2").tobytes()


def streamed(*pieces: bytes, gap_s: float = 0.0) -> Handler:
    """A handler sending `pieces` as a chunked body, `gap_s` apart."""

    async def handler(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        response.enable_chunked_encoding()
        await response.prepare(request)
        for piece in pieces:
            await response.write(piece)
            await asyncio.sleep(gap_s)
        await response.write_eof()
        return response

    return handler


def wav_header(rate: int) -> bytes:
    """A header written before the audio's length is known, as GPT-SoVITS's wave_header_chunk does."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(b"")
    return buffer.getvalue()


def voice(backend: str, url: str, fallback: EspeakBackend, **settings) -> ServerVoice:
    config = VoiceConfig(backend=backend, name="", espeak_voice="en-us", server_url=url, **settings)
    return load_server_voice(config, fallback)


def from_fallback(chunk: SpeechChunk) -> bool:
    return bool(chunk.phonemes)  # espeak times its phonemes; server audio has none


def logged(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    """The voice's records (the server's own, about clients gone, are not the voice's)."""
    return [r for r in caplog.records if r.name == LOGGER]


def seconds(chunks: list[SpeechChunk]) -> float:
    return sum(c.duration for c in chunks)


# ----- streaming and cancel ----------------------------------------------------------------------


def test_the_first_chunk_comes_before_the_server_has_finished_sending(server: Server, espeak):
    release, finished = asyncio.Event(), threading.Event()

    async def handler(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        response.enable_chunked_encoding()
        await response.prepare(request)
        await response.write(tone(0.3, 24000))
        await asyncio.wait_for(release.wait(), 5)
        await response.write(tone(0.5, 24000))
        finished.set()  # before the end of the body, which lets the client's stream end
        await response.write_eof()
        return response

    url = server.serve({("POST", "/v1/audio/speech"): handler})
    chunks = voice("openai_tts", url, espeak).stream("Hello there.")
    first = next(chunks)
    assert not finished.is_set()
    assert first.sample_rate == 24000 and 0.2 <= first.duration <= 0.3 and first.phonemes == []
    server.call(release.set)
    rest = list(chunks)
    assert finished.is_set()
    assert seconds([first, *rest]) == pytest.approx(0.8, abs=1e-3)
    assert not any(from_fallback(c) for c in rest)


def test_interrupt_ends_the_stream_within_100_ms_while_the_server_still_sends(server: Server, espeak, caplog):
    url = server.serve({("POST", "/v1/audio/speech"): streamed(*[tone(0.1, 24000)] * 200, gap_s=0.05)})
    speaker = voice("openai_tts", url, espeak)
    chunks = speaker.stream("Hello there, this goes on and on.")
    next(chunks)
    interrupted_at: list[float] = []

    def interrupt() -> None:
        interrupted_at.append(time.monotonic())
        speaker.interrupt()

    threading.Timer(0.2, interrupt).start()
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        rest = list(chunks)
    ended = time.monotonic()
    assert interrupted_at and ended - interrupted_at[0] < 0.1
    assert seconds(rest) < 1.0  # it did not run on for the 20 s the server would send
    assert not any(from_fallback(c) for c in rest)
    assert logged(caplog) == []  # a cut is no outage


# ----- fallback ----------------------------------------------------------------------------------


def test_a_dead_server_leaves_every_line_to_the_offline_voice_with_one_warning(espeak, caplog):
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    speaker = voice("openai_tts", url, espeak, api_key=KEY)
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        first = list(speaker.stream("Hello there. How are you?"))
        second = list(speaker.stream("Still here."))
    assert first and second and all(from_fallback(c) for c in first + second)
    assert {c.sample_rate for c in first + second} == {24000}  # espeak's 22.05 kHz, resampled
    assert [c.text for c in first] == ["Hello there.", "How are you?"]
    (warning,) = logged(caplog)
    assert "nothing is listening" in warning.getMessage()
    assert KEY not in caplog.text


def test_a_server_that_stalls_past_the_timeout_leaves_the_sentence_to_the_offline_voice(server: Server, espeak, caplog):
    async def stall(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        await response.prepare(request)  # the headers come, the audio never does
        await asyncio.wait_for(server.stop.wait(), 5)
        return response

    url = server.serve({("POST", "/tts"): stall})
    speaker = voice("gpt_sovits", url, espeak, reference_audio="/srv/ref.wav", server_timeout_s=0.3, api_key=KEY)
    start = time.monotonic()
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        chunks = list(speaker.stream("Hello there."))
    assert 0.3 <= time.monotonic() - start < 1.0
    assert chunks and all(from_fallback(c) for c in chunks)
    assert [r.getMessage() for r in logged(caplog)] == [
        f"the gpt_sovits voice server at {url} failed: it sent no audio for 0.3 s; "
        "the offline voice speaks until it answers again"
    ]
    assert KEY not in caplog.text


def test_after_a_failing_sentence_the_rest_of_the_line_is_spoken_offline(server: Server, espeak):
    answers = [streamed(tone(0.3, 24000))]

    async def first_then_error(request: web.Request) -> web.StreamResponse:
        return await answers.pop()(request) if answers else web.Response(status=500)

    url = server.serve({("POST", "/v1/audio/speech"): first_then_error})
    chunks = list(voice("openai_tts", url, espeak).stream("One more thing. Two more things! Three."))
    assert [from_fallback(c) for c in chunks] == [False, True, True]
    assert [c.text for c in chunks] == ["One more thing.", "Two more things!", "Three."]
    assert len(server.seen) == 2  # the third sentence was never asked of the server


def test_each_outage_is_logged_once_and_again_after_the_server_recovered(server: Server, espeak, caplog):
    up = [False]

    async def flaky(request: web.Request) -> web.StreamResponse:
        return await streamed(tone(0.3, 24000))(request) if up[0] else web.Response(status=503)

    url = server.serve({("POST", "/v1/audio/speech"): flaky})
    speaker = voice("openai_tts", url, espeak)
    with caplog.at_level(logging.INFO, logger=LOGGER):
        for state in (False, False, True, False):
            up[0] = state
            list(speaker.stream("Hello there."))
    records = logged(caplog)
    assert [r.levelname for r in records] == ["WARNING", "INFO", "WARNING"]
    assert "HTTP 503" in records[0].getMessage()


# ----- what each protocol sends and reads --------------------------------------------------------


def test_openai_speech_sends_the_model_voice_speed_and_key(server: Server, espeak, tmp_path, monkeypatch):
    url = server.serve({("POST", "/v1/audio/speech"): streamed(tone(0.3, 24000))})
    config_file = tmp_path / "config.toml"
    config_file.write_text(
        f'[voice]\nbackend = "openai_tts"\nserver_url = "{url}/v1"\nserver_model = "kokoro"\n'
        'server_voice = "af_bella"\nspeed = 1.25\n'
    )
    monkeypatch.setenv("COHOST_VOICE_API_KEY", KEY)
    speaker = load_server_voice(load_config(config_file).voice, espeak)
    assert seconds(list(speaker.stream("Hello there."))) == pytest.approx(0.3, abs=1e-3)
    (seen,) = server.seen
    assert seen.headers["Authorization"] == f"Bearer {KEY}"
    assert seen.json == {
        "model": "kokoro", "voice": "af_bella", "response_format": "pcm", "speed": 1.25, "input": "Hello there.",
    }  # fmt: skip


def test_gpt_sovits_sends_text_language_reference_and_speed_and_reads_the_wav_header(server: Server, espeak):
    url = server.serve({("POST", "/tts"): streamed(wav_header(16000), tone(0.25, 16000), tone(0.25, 16000))})
    speaker = voice("gpt_sovits", url, espeak, reference_audio="/srv/ref.wav", reference_text="我是景元。", speed=0.8)
    chunks = list(speaker.stream("Hello there. 大家好，欢迎来到直播间。", continued=True))
    assert {c.sample_rate for c in chunks} == {32000}  # the header's 16 kHz, resampled to the voice's rate
    assert seconds(chunks) == pytest.approx(1.0, abs=0.01)
    english, chinese = (seen.json for seen in server.seen)
    assert english == {
        "text": "Hello there.", "text_lang": "en", "ref_audio_path": "/srv/ref.wav", "prompt_text": "我是景元。",
        "prompt_lang": "zh", "streaming_mode": True, "media_type": "wav", "speed_factor": 0.8,
    }  # fmt: skip
    assert chinese["text"] == "大家好,欢迎来到直播间。" and chinese["text_lang"] == "zh"  # normalise() is NFKC


def test_cosyvoice_sends_a_zero_shot_form_with_the_clip_or_a_speaker_id(server: Server, espeak, tmp_path):
    clip = tmp_path / "me.wav"
    clip.write_bytes(wav_header(16000) + tone(4, 16000))
    pcm = streamed(tone(0.3, 22050), tone(0.3, 22050))
    url = server.serve({("GET", "/inference_zero_shot"): pcm, ("GET", "/inference_sft"): pcm})
    cloned = voice("cosyvoice", url, espeak, reference_audio=str(clip), reference_text="Hi, it is me.")
    chunks = list(cloned.stream("Hello there."))
    built_in = voice("cosyvoice", url, espeak, server_voice="英文女", server_model="CosyVoice2-0.5B")
    assert cloned.sample_rate == 22050 and built_in.sample_rate == 24000
    list(built_in.stream("Hello there."))
    assert seconds(chunks) == pytest.approx(0.6, abs=1e-3)
    zero_shot, sft = server.seen
    assert (zero_shot.method, zero_shot.path, sft.path) == ("GET", "/inference_zero_shot", "/inference_sft")
    assert zero_shot.form == {
        "tts_text": "Hello there.",
        "prompt_text": "Hi, it is me.",
        "prompt_wav": clip.read_bytes(),
    }
    assert sft.form == {"tts_text": "Hello there.", "spk_id": "英文女"}


def test_xtts_asks_for_the_studio_speaker_once_and_streams_with_its_latents(server: Server, espeak):
    speakers = {name: {"speaker_embedding": [i, 0.5], "gpt_cond_latent": [[i, 1.0]]} for i, name in enumerate("AB")}

    async def studio(request: web.Request) -> web.StreamResponse:
        return web.json_response(speakers)

    url = server.serve({("GET", "/studio_speakers"): studio, ("POST", "/tts_stream"): streamed(tone(0.3, 24000))})
    speaker = voice("xtts", url, espeak, server_voice="B")
    chunks = list(speaker.stream("Hello there. 谢谢你的关注！", continued=True))
    assert seconds(chunks) == pytest.approx(0.6, abs=1e-3) and not any(from_fallback(c) for c in chunks)
    assert [s.path for s in server.seen] == ["/studio_speakers", "/tts_stream", "/tts_stream"]
    english, chinese = (s.json for s in server.seen[1:])
    assert english == {**speakers["B"], "text": "Hello there.", "language": "en", "add_wav_header": False}
    assert chinese["language"] == "zh-cn"


def test_xtts_clones_the_reference_clip_through_clone_speaker(server: Server, espeak, tmp_path):
    clip = tmp_path / "me.wav"
    clip.write_bytes(wav_header(22050) + tone(4, 22050))
    latents = {"speaker_embedding": [0.25], "gpt_cond_latent": [[0.5]]}

    async def clone(request: web.Request) -> web.StreamResponse:
        return web.json_response(latents)

    url = server.serve({("POST", "/clone_speaker"): clone, ("POST", "/tts_stream"): streamed(tone(0.3, 24000))})
    list(voice("xtts", url, espeak, reference_audio=str(clip)).stream("Hello there."))
    cloning, speaking = server.seen
    assert cloning.form == {"wav_file": clip.read_bytes()}
    assert {k: speaking.json[k] for k in latents} == latents


@pytest.mark.parametrize(
    ("backend", "settings", "message"),
    [
        ("xtts", {"server_url": ""}, "[voice] server_url is empty: the xtts voice needs its server's address"),
        ("openai_tts", {"server_url": "localhost:8880"}, "[voice] server_url 'localhost:8880' is not an http"),
        ("gpt_sovits", {}, "[voice] reference_audio is empty: the gpt_sovits voice needs a clip to clone"),
        ("cosyvoice", {}, "the cosyvoice voice needs [voice] server_voice"),
        ("cosyvoice", {"reference_audio": "/x.wav"}, "[voice] reference_text is empty"),
        (
            "cosyvoice",
            {"reference_audio": "/nowhere/x.wav", "reference_text": "Hi."},
            "cannot read [voice] reference_audio",
        ),
    ],
)
def test_a_server_voice_missing_its_settings_fails_at_load_in_one_line(espeak, backend, settings, message):
    config = VoiceConfig(
        backend=backend, name="", espeak_voice="en-us", **{"server_url": "http://127.0.0.1:1", **settings}
    )
    with pytest.raises(CohostError) as error:
        load_server_voice(config, espeak)
    assert str(error.value).startswith(message) and "\n" not in str(error.value)


@pytest.mark.parametrize(("key", "value"), [("speed", 2.5), ("speed", 0.4), ("server_timeout_s", 0)])
def test_speed_and_timeout_out_of_range_are_config_errors(tmp_path, key, value):
    path = tmp_path / "config.toml"
    path.write_text(f"[voice]\n{key} = {value}\n")
    with pytest.raises(ConfigError, match=rf"\[voice\] {key} must be"):
        load_config(path)


# ----- cohost voice clone ------------------------------------------------------------------------


def write_wav(path: Path, seconds: float, rate: int = 16000) -> Path:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(tone(seconds, rate))
    return path


def test_voice_clone_keeps_the_clip_and_points_the_config_at_it(tmp_path, capsys):
    sample, config = write_wav(tmp_path / "sample.wav", 4.0), tmp_path / "config.toml"
    config.write_text('[voice]\nserver_url = "http://127.0.0.1:9880"\n')
    args = ["clone", str(sample), "--backend", "gpt-sovits", "--text", "Hello, this is me.", "--config", str(config)]
    assert voice_clone.main(args) == 0
    copy = state_dir() / "voices" / "reference-gpt_sovits.wav"
    assert copy.read_bytes() == sample.read_bytes()
    loaded = load_config(config).voice
    assert (loaded.backend, loaded.reference_audio, loaded.reference_text, loaded.server_url) == (
        "gpt_sovits", str(copy), "Hello, this is me.", "http://127.0.0.1:9880",
    )  # fmt: skip
    assert "4.0 s" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("make", "args", "code", "message"),
    [
        (lambda p: write_wav(p, 1.5), ["--backend", "xtts"], 1, "is 1.5 s long: a reference clip must be 3 to 10 s"),
        (lambda p: write_wav(p, 12), ["--backend", "xtts"], 1, "is 12.0 s long"),
        (lambda p: p.write_bytes(b"not a wav at all") and p, ["--backend", "xtts"], 1, "is not a readable PCM WAV"),
        (lambda p: write_wav(p, 4), ["--backend", "cosyvoice"], 2, "--backend cosyvoice needs --text"),
        (lambda p: write_wav(p, 4), ["--backend", "piper"], 2, "invalid choice: 'piper'"),
    ],
)
def test_voice_clone_refuses_a_bad_clip_or_command_in_one_line(tmp_path, capsys, make, args, code, message):
    sample, config = tmp_path / "sample.wav", tmp_path / "config.toml"
    make(sample)
    assert voice_clone.main(["clone", str(sample), *args, "--config", str(config)]) == code
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert not config.exists()
