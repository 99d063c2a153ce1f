"""A real OpenAI-compatible LLM server for tests: llama-cpp-python's server on the SmolLM2-135M GGUF.

    with LlamaServer(tmp_path / "llama", gguf, api_key="k") as llama:
        ... POST llama.url + "/chat/completions" with "Authorization: Bearer k" ...
        with llama.busy():      # another client's long answer holds the model: new requests wait
            ...

`--interrupt_requests False` makes it queue requests like Ollama with one slot; by default a new
request would cut the running one short.
"""

from __future__ import annotations

import contextlib
import http.client
import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from .process import Service, free_port, spawn, stop_group, wait_until

requires_llama_cpp = pytest.mark.skipif(
    importlib.util.find_spec("llama_cpp") is None,
    reason="llama-cpp-python is not installed (python3 install.py --llm builds it)",
)

# SmolLM2's end-of-turn and end-of-text tokens, biased away so that a busy() answer cannot end early.
_END_TOKENS = {"<|im_end|>": -100.0, "<|endoftext|>": -100.0}


class LlamaServer(Service):
    """`python -m llama_cpp.server` on 127.0.0.1:<free port>, 2 threads, a 2048-token context.
    `url` is the OpenAI base address ([brain] url)."""

    def __init__(self, root: Path, model: Path, api_key: str | None = None, start_timeout: float = 60.0):
        self.root = Path(root)
        self.model = model
        self.api_key = api_key
        self.port = free_port()
        self.start_timeout = start_timeout
        self.log_path = self.root / "llama-server.log"
        self._proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> LlamaServer:
        cmd = [
            sys.executable,
            "-m",
            "llama_cpp.server",
            "--model",
            str(self.model),
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--n_ctx",
            "2048",
            "--n_threads",
            "2",
            "--interrupt_requests",
            "False",
        ]
        if self.api_key:
            cmd += ["--api_key", self.api_key]
        # Unbuffered: the server's "disconnected" lines must reach the log while it runs.
        self._proc = spawn(cmd, self.log_path, env={**os.environ, "PYTHONUNBUFFERED": "1"}, cwd=self.root)
        wait_until(
            self.healthy,
            self.start_timeout,
            f"llama server on port {self.port}",
            interval=0.2,
            alive=self._proc,
            log=self.log_path,
        )
        return self

    def stop(self) -> None:
        stop_group(self._proc, timeout=10)
        self._proc = None

    def kill(self) -> None:
        """A crash: the server dies at once, whatever it is sending."""
        stop_group(self._proc, timeout=0, sig=signal.SIGKILL)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def healthy(self) -> bool:
        request = urllib.request.Request(f"{self.url}/models", headers=self._auth())
        try:
            with urllib.request.urlopen(request, timeout=2) as response:
                return response.status == 200
        except (OSError, urllib.error.URLError):
            return False

    @contextlib.contextmanager
    def busy(self, messages: list[dict[str, str]], max_tokens: int = 1500) -> Iterator[None]:
        """Another client streams a long answer to `messages` for the whole `with` block (it starts
        before the block does); on leaving, that client hangs up and the server drops the answer.
        Give it the messages the test sends next: the server then reuses their evaluated prompt."""
        body = json.dumps({
            "messages": messages, "max_tokens": max_tokens, "stream": True,
            "logit_bias_type": "tokens", "logit_bias": _END_TOKENS,
        })  # fmt: skip
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        connection.request("POST", "/v1/chat/completions", body, {"Content-Type": "application/json", **self._auth()})
        response = connection.getresponse()
        generating = threading.Event()

        def drain() -> None:
            try:
                for line in response:
                    if line.startswith(b"data:") and b'"content"' in line:
                        generating.set()
            except (OSError, ValueError, http.client.HTTPException):
                pass  # our own hang-up

        reader = threading.Thread(target=drain, daemon=True)
        reader.start()
        try:
            assert generating.wait(30), "the busy() answer never started"
            yield
        finally:
            if connection.sock is not None:
                connection.sock.shutdown(socket.SHUT_RDWR)  # ends the reader's read; it owns the rest
            reader.join(5)
            connection.close()

    def client_connections(self) -> int:
        """Established TCP connections from this machine to the server (client side), from /proc/net/tcp."""
        count = 0
        for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
            fields = line.split()
            remote_port, state = int(fields[2].split(":")[1], 16), fields[3]
            count += remote_port == self.port and state == "01"  # 01: ESTABLISHED
        return count

    def _auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}


_REFERENCE = """
import json, sys
import llama_cpp
model, threads, max_tokens, n_ctx = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
llm = llama_cpp.Llama(model_path=model, n_ctx=n_ctx, n_threads=threads, verbose=False)
answer = llm.create_chat_completion(messages=json.load(sys.stdin), max_tokens=max_tokens, temperature=0)
print(json.dumps([answer["choices"][0]["message"]["content"], answer["usage"]["prompt_tokens"]]))
"""


def reference_answer(
    model: Path, messages: list[dict[str, str]], max_tokens: int, threads: int, n_ctx: int
) -> tuple[str, int]:
    """llama.cpp's own greedy answer to `messages` (no abort hook, nothing of ours) and the prompt's token
    count. In a Python of its own: a crash in native code fails the one test, not the whole test run."""
    command = [sys.executable, "-c", _REFERENCE, str(model), str(threads), str(max_tokens), str(n_ctx)]
    result = subprocess.run(command, input=json.dumps(messages), capture_output=True, text=True, timeout=300)
    if result.returncode != 0:
        raise AssertionError(
            f"llama.cpp's reference answer failed (exit status {result.returncode}):\n{result.stderr[-3000:]}"
        )
    content, prompt_tokens = json.loads(result.stdout.splitlines()[-1])
    return content, prompt_tokens


API_KEY = "harness-llm-key"


@pytest.fixture(scope="module")
def llama(tmp_path_factory: pytest.TempPathFactory, config) -> Iterator[LlamaServer]:  # type: ignore[no-untyped-def]
    """One server per test module (it takes seconds to start), requiring API_KEY."""
    from engine.models import resolve

    gguf = resolve("llm/smollm2-135m", config.models).files["model"]
    with LlamaServer(tmp_path_factory.mktemp("llama"), gguf, api_key=API_KEY) as server:
        yield server
