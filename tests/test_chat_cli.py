"""`cohost chat` and `cohost live` as a user runs them, in a real process: a typed conversation is
answered, spoken and recorded; questions queued in a live session survive the process being killed."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import av
import numpy as np

from tests.harness.process import free_port, port_open, wait_until

TOKEN = "cli-token-P4s"


def light_config(tmp_path: Path, **extra: str) -> Path:
    """espeak, 320x180 at 15 fps, the scripted brain, the queue in tmp_path; plus `extra` sections."""
    sections = {
        "voice": 'backend = "espeak"',
        "render": "width = 320\nheight = 180\nfps = 15",
        "brain": 'backend = "scripted"',
        "queue": f'path = "{tmp_path / "queue.sqlite3"}"',
        **extra,
    }
    path = tmp_path / "cohost.toml"
    path.write_text("".join(f"[{name}]\n{body}\n\n" for name, body in sections.items()))
    return path


def test_cohost_chat_answers_typed_questions_and_records_the_conversation(tmp_path: Path) -> None:
    out = tmp_path / "talk.mp4"
    result = subprocess.run(
        [sys.executable, "-m", "engine", "chat", "--config", str(light_config(tmp_path)), "--out", str(out)],
        input="Who are you?\nhello there\n",
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    answers = [line for line in result.stdout.splitlines() if line.startswith("Nova: ")]
    assert any("AI" in line for line in answers) and any("you" in line.lower() for line in answers[1:])
    assert f"wrote {out}" in result.stdout and "Traceback" not in result.stderr
    with av.open(str(out)) as container:
        assert container.streams.video[0].codec_context.width == 320
        audio = np.concatenate([f.to_ndarray().ravel() for f in container.decode(audio=0)])
    assert np.abs(audio).max() > 0.1  # the answers were spoken into the file


def test_cohost_chat_with_a_bad_brain_is_a_usage_error(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "engine", "chat", "--brain", "gpt9"],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 2 and "Traceback" not in result.stderr and "--brain" in result.stderr


def _api(port: int, method: str, path: str, body: object = None) -> dict:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}", data=data, method=method, headers={"Authorization": f"Bearer {TOKEN}"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def _live(config: Path, log: Path) -> subprocess.Popen:
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "engine", "live", "--no-obs", "--config", str(config)],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )


def test_questions_queued_in_a_live_session_survive_it_being_killed(tmp_path: Path) -> None:
    port = free_port()
    config = light_config(
        tmp_path,
        live=f'outputs = ["file"]\nfile = "{tmp_path / "session.mp4"}"',
        api=f'port = {port}\ntoken = "{TOKEN}"',
        moderation="approve = true",
    )
    log = tmp_path / "live.log"
    first = _live(config, log)
    try:
        wait_until(lambda: port_open(port), 120, "cohost live's API", alive=first, log=log)
        batch = [{"user": u, "text": f"Nova, question from {u}?", "platform": "douyin"} for u in ("ann", "bob", "cat")]
        assert _api(port, "POST", "/chat", {"messages": batch}) == {"results": ["queued"] * 3}
        _api(port, "POST", "/queue", {"text": "A line of my own."})
        before = _api(port, "GET", "/questions")["questions"]
    finally:
        first.send_signal(signal.SIGKILL)  # a crash: no clean shutdown
        first.wait()
    second = _live(config, log)
    try:
        wait_until(lambda: port_open(port), 120, "cohost live's API after the crash", alive=second, log=log)
        after = _api(port, "GET", "/questions")["questions"]
        status = _api(port, "GET", "/status")
    finally:
        second.send_signal(signal.SIGINT)
        second.wait(60)
    assert len(before) == 4 and after == before
    assert status["queue"] == 4 and status["awaiting_approval"] == 3
    assert TOKEN not in log.read_text()
