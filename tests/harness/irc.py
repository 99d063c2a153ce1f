"""An IRC server for tests (ngircd) and a viewer who talks in its channels.

with IrcServer(tmp_path / "irc", password="oauth:secret", tls=True) as irc:
    ... connect to 127.0.0.1:irc.port (plain) or irc.tls_port, trusting irc.ssl_context() ...
    viewer = await IrcViewer.connect(irc.port, "viewer", "#chan", password="oauth:secret")
"""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import signal
import ssl
import subprocess
from collections.abc import Callable
from pathlib import Path

# cryptography comes with keyring (through SecretStorage) on Linux: no openssl CLI needed.
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from engine.chat.irc import IrcMessage, format_line, parse_line

from .process import Service, free_port, port_open, spawn, stop_group, wait_until

NGIRCD = Path("/usr/sbin/ngircd")
SERVER_NAME = "irc.cohost.test"


class IrcServer(Service):
    """ngircd in the foreground (-n) on 127.0.0.1:`port` (and on `tls_port` with a self-signed
    certificate when `tls`), config and log in `root`. `password` is the server password every
    client must send with PASS. ngircd PINGs a client idle for `ping_timeout_s` (at least 5) and
    drops it when no PONG follows within as long again.

    stop() or crash(), then start(), restarts it on the same ports. Started as root, ngircd reads its config and
    certificate, then runs as "nobody"; as any other user it simply stays that user."""

    def __init__(self, root: Path, *, password: str = "", tls: bool = False, ping_timeout_s: int = 120,
                 start_timeout: float = 15.0):  # fmt: skip
        self.root = Path(root)
        self.password = password
        self.port = free_port()
        self.tls_port = free_port() if tls else None
        self.ping_timeout_s = ping_timeout_s
        self.start_timeout = start_timeout
        self.cert_path = self.root / "cert.pem"
        self.log_path = self.root / "ngircd.log"
        self._proc: subprocess.Popen | None = None

    def ssl_context(self) -> ssl.SSLContext:
        """A client context that trusts this server's certificate (and nothing else)."""
        return ssl.create_default_context(cafile=str(self.cert_path))

    def _write_certificate(self) -> Path:
        """A self-signed certificate for 127.0.0.1 (and its key), made once."""
        key_path = self.root / "key.pem"
        if self.cert_path.exists():
            return key_path
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
        now = datetime.datetime.now(datetime.UTC)
        cert = (
            x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1)).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256())
        )  # fmt: skip
        key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))  # fmt: skip
        self.cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        return key_path

    def _write_config(self) -> Path:
        self.root.mkdir(parents=True, exist_ok=True)
        ssl_section = ""
        if self.tls_port is not None:
            key = self._write_certificate()
            ssl_section = f"[SSL]\nPorts = {self.tls_port}\nCertFile = {self.cert_path}\nKeyFile = {key}\n"
        conf = self.root / "ngircd.conf"
        conf.write_text(
            "[Global]\n"
            f'Name = {SERVER_NAME}\nInfo = obs-cohost test server\nMotdPhrase = "test"\n'
            f"Listen = 127.0.0.1\nPorts = {self.port}\n"
            # No PID file: the Popen is all we need, and the default path is the system ngircd's.
            "PidFile =\n" + (f"Password = {self.password}\n" if self.password else "") + "[Limits]\n"
            f"PingTimeout = {self.ping_timeout_s}\nPongTimeout = {self.ping_timeout_s}\n"
            # Every client (and reconnect) comes from 127.0.0.1; nicks like justinfan12345678 are
            # long; and no flood penalty, which would hold each JOIN back by seconds.
            "MaxConnectionsIP = 0\nMaxNickLength = 30\nMaxPenaltyTime = 0\n"
            "[Options]\nDNS = no\nIdent = no\nPAM = no\n" + ssl_section
        )
        return conf

    def start(self) -> IrcServer:
        if self._proc is not None and self._proc.poll() is None:
            return self
        conf = self._write_config()
        self._proc = spawn([str(NGIRCD), "-n", "-f", str(conf)], self.log_path, cwd=self.root)
        ports = [p for p in (self.port, self.tls_port) if p is not None]
        wait_until(lambda: all(port_open(p) for p in ports), self.start_timeout, f"ngircd on {ports}",
                   alive=self._proc, log=self.log_path)  # fmt: skip
        return self

    def stop(self) -> None:
        stop_group(self._proc, timeout=10)
        self._proc = None

    def crash(self) -> None:
        """Kills ngircd at once: its clients see their connections drop, with no ERROR line first."""
        stop_group(self._proc, sig=signal.SIGKILL)
        self._proc = None


class IrcViewer:
    """A plain IRC client in a channel: says things and waits for lines. It answers the server's
    PINGs while it waits."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, nick: str, channel: str):
        self.reader, self.writer, self.nick, self.channel = reader, writer, nick, channel

    @classmethod
    async def connect(cls, port: int, nick: str, channel: str, password: str = "") -> IrcViewer:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        viewer = cls(reader, writer, nick, channel)
        if password:
            viewer.send("PASS", password)
        viewer.send("NICK", nick)
        viewer.send("USER", nick, "0", "*", nick)
        await viewer.wait_for(lambda m: m.command == "001")
        viewer.send("JOIN", channel)
        await viewer.wait_for(lambda m: m.command == "JOIN" and m.nick == nick)
        return viewer

    def send(self, command: str, *params: str) -> None:
        self.writer.write(format_line(command, *params).encode())

    async def say(self, text: str) -> None:
        self.send("PRIVMSG", self.channel, text)
        await self.writer.drain()

    async def wait_for(self, predicate: Callable[[IrcMessage], bool], timeout: float = 15.0) -> IrcMessage:
        async with asyncio.timeout(timeout):
            while True:
                raw = await self.reader.readline()
                if not raw:
                    raise ConnectionError(f"{self.nick}: the IRC server closed the connection")
                msg = parse_line(raw.decode("utf-8", "replace"))
                if msg.command == "PING":
                    self.send("PONG", *msg.params)
                elif predicate(msg):
                    return msg

    async def wait_member(self, nick: str, timeout: float = 15.0) -> None:
        """Waits until `nick` is in the channel (asks NAMES until it is listed)."""
        async with asyncio.timeout(timeout):
            while True:
                self.send("NAMES", self.channel)
                names = await self.wait_for(lambda m: m.command == "353")
                if nick.lower() in (n.lstrip("~&@%+").lower() for n in names.trailing.split()):
                    return
                await asyncio.sleep(0.1)

    async def close(self) -> None:
        self.writer.close()
