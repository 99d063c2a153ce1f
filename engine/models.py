"""Finds each model obs-cohost needs: a path the user gives, the model cache, an installed package, the
project tree or a download, in that order (models/manifest.toml lists the sources per model).

`cohost models` (engine/app/models.py) resolves them and prints a table. Resolution runs before every command, so it never imports mediapipe or piper (they take seconds).
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.util
import json
import os
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.config import ModelsConfig, VoiceConfig, read_toml
from engine.errors import CohostError

PROJECT_ROOT = Path(__file__).resolve().parents[1]
MANIFEST_PATH = PROJECT_ROOT / "models" / "manifest.toml"
# Written last into a model's cache folder: while it is absent or disagrees with the files, the
# folder is not trusted (an interrupted copy or download never counts as cached).
_MARKER = ".source.json"
_DOWNLOAD_CHUNK = 64 * 1024
_DOWNLOAD_TIMEOUT_S = 60


@dataclass(frozen=True)
class ResolvedModel:
    id: str
    files: dict[str, Path]  # file key from the manifest -> path
    source: str  # "user", "cache", "package", "download" or "repo"
    cache_dir: Path  # this model's folder in the cache; derived files (e.g. a patched voice) go here
    size_bytes: int


class MissingModel(CohostError):
    """No source could provide a model; the one-line message says how to get it."""

    def __init__(self, message: str, model_id: str, optional: bool) -> None:
        super().__init__(message)
        self.model_id = model_id
        self.optional = optional


class _Unavailable(Exception):
    """One source cannot provide a model; the reason becomes part of MissingModel's message."""


@dataclass(frozen=True)
class ModelSpec:
    id: str
    what: str
    files: dict[str, str]  # file key -> file name; the first is the main file
    hint: str
    optional: bool
    sources: tuple[_Source, ...]
    root: Path  # project root that "repo" paths are relative to

    def pinned(self, key: str) -> set[str]:
        return {s.sha256[key] for s in self.sources if key in getattr(s, "sha256", {})}


@dataclass(frozen=True)
class _PackageSource:
    package: str  # pip requirement, for messages
    module: str  # top-level module: find_spec on it imports nothing
    dir: str  # folder inside the module holding the files
    sha256: dict[str, str] = field(default_factory=dict)

    def fetch(self, spec: ModelSpec, cache_dir: Path, config: ModelsConfig) -> ResolvedModel:
        shipped = self._shipped_files(spec)
        digests = {
            key: _verified(self.sha256.get(key), sha256_file(path), f"the installed {self.module}'s {path.name}")
            for key, path in shipped.items()
        }

        def put(key: str, part: Path) -> str:
            _link_or_copy(shipped[key], part)
            return digests[key]

        try:
            return _fill_cache(spec, cache_dir, "package", put)
        except OSError:
            # The cache is unwritable (read-only home, disk full): the venv's copy still works.
            return ResolvedModel(spec.id, shipped, "package", cache_dir, _total_size(shipped))

    def _shipped_files(self, spec: ModelSpec) -> dict[str, Path]:
        try:
            found = importlib.util.find_spec(self.module)
        except (ImportError, ValueError):
            found = None
        if found is None or not found.submodule_search_locations:
            raise _Unavailable(f"{self.package.partition('==')[0]} is not installed")
        for location in found.submodule_search_locations:
            files = {key: Path(location, self.dir, name) for key, name in spec.files.items()}
            if all(path.is_file() for path in files.values()):
                return files
        raise _Unavailable(f"the installed {self.module} lacks {Path(self.dir, next(iter(spec.files.values())))}")


@dataclass(frozen=True)
class _RepoSource:
    path: str  # folder relative to the project root

    def fetch(self, spec: ModelSpec, cache_dir: Path, config: ModelsConfig) -> ResolvedModel:
        files = {key: spec.root / self.path / name for key, name in spec.files.items()}
        for path in files.values():
            if not path.is_file():
                raise _Unavailable(f"{path.relative_to(spec.root)} is missing from the project tree")
        # Used in place: the project's own files are versioned by git, a cache copy adds nothing.
        return ResolvedModel(spec.id, files, "repo", cache_dir, _total_size(files))


@dataclass(frozen=True)
class _DownloadSource:
    url: dict[str, str]
    sha256: dict[str, str] = field(default_factory=dict)

    def fetch(self, spec: ModelSpec, cache_dir: Path, config: ModelsConfig) -> ResolvedModel:
        if offline():
            raise _Unavailable("COHOST_OFFLINE is set")
        if not config.allow_download:
            raise _Unavailable("downloads are off")

        def put(key: str, part: Path) -> str:
            digest = _download(self.url[key], part, spec.files[key])
            return _verified(self.sha256.get(key), digest, f"the download of {spec.files[key]}")

        try:
            return _fill_cache(spec, cache_dir, "download", put)
        except OSError as e:
            raise _Unavailable(f"cannot write {cache_dir}: {e.strerror or e}") from None


@dataclass(frozen=True)
class _PartsSource:
    """A model split across packages (PyPI's size limit): `parts` names, per file key, the pieces to
    join in order, the n-th from the n-th package; every other file comes from the first package.
    Joined once into the cache (it is needed as one file), checked against sha256 there."""

    packages: list[str]  # pip requirements, for messages
    modules: list[str]
    dir: str
    parts: dict[str, list[str]]
    sha256: dict[str, str] = field(default_factory=dict)

    def fetch(self, spec: ModelSpec, cache_dir: Path, config: ModelsConfig) -> ResolvedModel:
        folders = [self._folder(package, module) for package, module in zip(self.packages, self.modules)]

        def pieces(key: str) -> list[Path]:
            names = self.parts.get(key) or [spec.files[key]]
            return [folder / name for folder, name in zip(folders, names)]

        missing = [path for key in spec.files for path in pieces(key) if not path.is_file()]
        if missing:
            raise _Unavailable(f"the installed packages lack {missing[0].name}")

        def put(key: str, staged: Path) -> str:
            digest = hashlib.sha256()
            with staged.open("wb") as out:
                for piece in pieces(key):
                    with piece.open("rb") as f:
                        while chunk := f.read(1 << 20):
                            digest.update(chunk)
                            out.write(chunk)
            return _verified(self.sha256.get(key), digest.hexdigest(), f"the joined {spec.files[key]}")

        try:
            return _fill_cache(spec, cache_dir, "package", put)
        except OSError as e:
            raise _Unavailable(f"cannot join the parts into {cache_dir}: {e.strerror or e}") from None

    def _folder(self, package: str, module: str) -> Path:
        try:
            found = importlib.util.find_spec(module)
        except (ImportError, ValueError):
            found = None
        if found is None or not found.submodule_search_locations:
            raise _Unavailable(f"{package.partition('==')[0]} is not installed")
        return Path(next(iter(found.submodule_search_locations)), self.dir)


_Source = _PackageSource | _RepoSource | _DownloadSource | _PartsSource
_SOURCE_KINDS: dict[str, type[_Source]] = {
    "package": _PackageSource,
    "repo": _RepoSource,
    "download": _DownloadSource,
    "parts": _PartsSource,
}


def offline() -> bool:
    """COHOST_OFFLINE set to anything but "" or "0" forbids every download, whatever the config says."""
    return os.environ.get("COHOST_OFFLINE", "") not in ("", "0")


def cache_root(config: ModelsConfig) -> Path:
    if env := os.environ.get("COHOST_MODEL_CACHE"):
        return Path(env).expanduser()
    if config.cache_dir:
        return Path(config.cache_dir).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "obs-cohost" / "models"


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def load_manifest(path: Path = MANIFEST_PATH) -> dict[str, ModelSpec]:
    data = read_toml(path, "the models manifest")
    specs = {}
    for model_id, entry in data.get("models", {}).items():
        try:
            specs[model_id] = _parse_spec(model_id, entry, path.parent.parent)
        except (KeyError, TypeError, ValueError) as e:
            raise CohostError(f"models manifest {path}: entry {model_id!r} is malformed ({e})") from None
    return specs


def _parse_spec(model_id: str, entry: dict[str, Any], root: Path) -> ModelSpec:
    files = dict(entry["files"])
    sources = []
    for raw in entry["sources"]:
        fields = dict(raw)
        source = _SOURCE_KINDS[fields.pop("kind")](**fields)
        keys = set(getattr(source, "sha256", {})) | set(getattr(source, "url", {}))
        if not keys <= set(files) or (isinstance(source, _DownloadSource) and set(source.url) != set(files)):
            raise ValueError(f"source file keys {sorted(keys)} do not match files {sorted(files)}")
        modules = [source.module] if isinstance(source, _PackageSource) else getattr(source, "modules", [])
        if any("." in module for module in modules):
            raise ValueError("a package module must be top-level, or find_spec would import its parent")
        sources.append(source)
    return ModelSpec(
        id=model_id,
        what=entry["what"],
        files=files,
        hint=entry["hint"],
        optional=bool(entry.get("optional", False)),
        sources=tuple(sources),
        root=root,
    )


def resolve(
    model_id: str, config: ModelsConfig, override: str | None = None, *, manifest_path: Path = MANIFEST_PATH
) -> ResolvedModel:
    """The model's files from the first place that has them: override, cache, then the manifest's sources."""
    manifest = load_manifest(manifest_path)
    if model_id not in manifest:
        raise CohostError(f"unknown model {model_id!r}: models/manifest.toml lists {', '.join(manifest)}")
    return _resolve_spec(manifest[model_id], config, override)


def resolve_all(
    config: ModelsConfig, include_optional: bool = False, *, manifest_path: Path = MANIFEST_PATH
) -> list[ResolvedModel | MissingModel]:
    """Every default model (and the optional ones when asked), in manifest order; a miss is returned, not raised."""
    results: list[ResolvedModel | MissingModel] = []
    for spec in load_manifest(manifest_path).values():
        if spec.optional and not include_optional:
            continue
        try:
            results.append(_resolve_spec(spec, config, None))
        except MissingModel as e:
            results.append(e)
    return results


def resolve_voice(voice: VoiceConfig, config: ModelsConfig, *, manifest_path: Path = MANIFEST_PATH) -> ResolvedModel:
    """[voice] name is a manifest voice ("en_US-joe-medium") or a path to a .onnx with its .onnx.json beside it."""
    manifest = load_manifest(manifest_path)
    voices = {key.removeprefix("voice/"): spec for key, spec in manifest.items() if key.startswith("voice/")}
    if voice.name.endswith(".onnx") or "/" in voice.name or os.sep in voice.name:
        layout = next(iter(voices.values()))  # every piper voice is laid out alike: model + config
        model = _resolve_spec(layout, config, voice.name)
        return dataclasses.replace(model, id=f"voice/{Path(voice.name).stem}")
    if voice.name not in voices:
        raise CohostError(f"unknown voice {voice.name!r}: use {', '.join(voices)} or a path to a piper .onnx voice")
    return _resolve_spec(voices[voice.name], config, None)


def _resolve_spec(spec: ModelSpec, config: ModelsConfig, override: str | None) -> ResolvedModel:
    root = cache_root(config)
    if override is not None:
        return _from_user(spec, Path(override).expanduser(), root)
    cache_dir = root / spec.id
    cached = _from_cache(spec, cache_dir)
    if cached is not None:
        return cached
    reasons = []
    for source in spec.sources:
        try:
            return source.fetch(spec, cache_dir, config)
        except _Unavailable as e:
            reasons.append(str(e).replace("\n", " "))
    main_file = next(iter(spec.files.values()))
    raise MissingModel(f"{spec.what} {main_file} not found ({'; '.join(reasons)}): {spec.hint}", spec.id, spec.optional)


def _from_user(spec: ModelSpec, given: Path, root: Path) -> ResolvedModel:
    if not given.exists():
        raise CohostError(f"{spec.what} not found at {given}: check the path")
    if given.is_dir():
        files = {key: given / name for key, name in spec.files.items()}
    else:
        files = _beside(spec, given)
    for path in files.values():
        if not path.is_file():
            raise CohostError(f"{spec.what} {given} is incomplete: {path} is missing")
    # Derived files of a user's model are kept apart from the manifest's, keyed by where it lives.
    cache_dir = root / "user" / hashlib.sha256(str(given.resolve()).encode()).hexdigest()[:16]
    return ResolvedModel(spec.id, files, "user", cache_dir, _total_size(files))


def _beside(spec: ModelSpec, main: Path) -> dict[str, Path]:
    """A user's main file stands for the first manifest file; the others are looked for beside it."""
    main_name = next(iter(spec.files.values()))
    return {
        key: main.with_name(main.name + name[len(main_name) :] if name.startswith(main_name) else name)
        for key, name in spec.files.items()
    }


def _from_cache(spec: ModelSpec, cache_dir: Path) -> ResolvedModel | None:
    try:
        recorded = json.loads((cache_dir / _MARKER).read_text())["files"]
        files = {}
        for key, name in spec.files.items():
            entry, path = recorded[key], cache_dir / name
            pins = spec.pinned(key)
            if entry["name"] != name or path.stat().st_size != entry["bytes"] or (pins and entry["sha256"] not in pins):
                return None
            files[key] = path
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return ResolvedModel(spec.id, files, "cache", cache_dir, _total_size(files))


def _fill_cache(spec: ModelSpec, cache_dir: Path, source: str, put: Callable[[str, Path], str]) -> ResolvedModel:
    """Stage every file under a temporary name with `put` (which returns its sha256), then rename them
    into place and write the marker last, so a crash or a rejected file never leaves a usable-looking entry."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    staged: dict[str, Path] = {}
    digests: dict[str, str] = {}
    try:
        for key, name in spec.files.items():
            staged[key] = cache_dir / f"{name}.{os.getpid()}.part"
            digests[key] = put(key, staged[key])
        files = {key: cache_dir / name for key, name in spec.files.items()}
        for key, part in staged.items():
            os.replace(part, files[key])
        marker = {
            "source": source,
            "files": {
                key: {"name": spec.files[key], "bytes": files[key].stat().st_size, "sha256": digests[key]}
                for key in files
            },
        }
        temp_marker = cache_dir / f"{_MARKER}.{os.getpid()}.part"
        temp_marker.write_text(json.dumps(marker, indent=1))
        os.replace(temp_marker, cache_dir / _MARKER)
    finally:
        for part in staged.values():
            part.unlink(missing_ok=True)
    return ResolvedModel(spec.id, files, source, cache_dir, _total_size(files))


def _verified(expected: str | None, digest: str, what: str) -> str:
    if expected is not None and digest != expected:
        raise _Unavailable(f"{what} has sha256 {digest[:12]}…, expected {expected[:12]}…")
    return digest


def _link_or_copy(src: Path, dst: Path) -> None:
    # A hard link costs no space, and unlike a symlink it survives the venv being deleted or rebuilt.
    # It is safe because pip replaces files on upgrade/uninstall instead of writing into them; nothing
    # may edit a cached model in place. Across filesystems (or where links are refused) we copy.
    try:
        os.link(src, dst)
    except OSError:
        shutil.copyfile(src, dst)


def _download(url: str, part: Path, label: str) -> str:
    """Download url into part with a progress bar on stderr; returns the sha256 of what arrived."""
    # Imported here: together they cost about 50 ms, paid at every start if imported at the top.
    import http.client
    import urllib.error
    import urllib.parse
    import urllib.request

    digest = hashlib.sha256()
    done = total = 0
    try:
        with urllib.request.urlopen(url, timeout=_DOWNLOAD_TIMEOUT_S) as response, part.open("wb") as out:
            total = int(response.headers.get("Content-Length") or 0)
            progress = _Progress(label, total)
            progress.update(0)
            while chunk := response.read(_DOWNLOAD_CHUNK):
                out.write(chunk)
                digest.update(chunk)
                done += len(chunk)
                progress.update(done)
            progress.finish(done)
    except (OSError, ValueError, http.client.HTTPException) as e:
        # URLError wraps the socket error in .reason; str(URLError) reads "<urlopen error ...>".
        detail = e.reason if type(e) is urllib.error.URLError else e
        raise _Unavailable(f"download of {label} from {urllib.parse.urlsplit(url).netloc} failed: {detail}") from None
    if total and done != total:
        raise _Unavailable(f"download of {label} stopped after {done} of {total} bytes")
    return digest.hexdigest()


class _Progress:
    """A download's progress on stderr: redrawn in place on a terminal, one line per 10% in a log."""

    def __init__(self, label: str, total: int) -> None:
        self.stream = sys.stderr
        self.tty = self.stream.isatty()
        self.label = label
        self.total = total
        self.shown = -1

    def update(self, done: int) -> None:
        if not self.total:
            return
        percent = done * 100 // self.total
        step = 1 if self.tty else 10
        if percent // step == self.shown // step:
            return
        self.shown = percent
        bar = "#" * (percent // 5)
        line = f"  {self.label} [{bar:<20}] {percent:3d}%  {human_size(done)} of {human_size(self.total)}"
        self.stream.write(f"\r{line}" if self.tty else f"{line}\n")
        self.stream.flush()

    def finish(self, done: int) -> None:
        if not self.total:
            self.stream.write(f"  {self.label}: {human_size(done)}\n")
        elif self.tty:
            self.stream.write("\n")
        self.stream.flush()


def _total_size(files: dict[str, Path]) -> int:
    return sum(path.stat().st_size for path in files.values())


def human_size(size_bytes: int) -> str:
    size = float(size_bytes)
    for unit in ("B", "KiB", "MiB"):
        if size < 1024:
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GiB"


def format_table(results: list[ResolvedModel | MissingModel]) -> str:
    """Columns: model, source, path (the file, or the folder of a several-file model), size."""
    rows = [("model", "source", "path", "size")]
    for result in results:
        if isinstance(result, MissingModel):
            rows.append((result.model_id, "absent" if result.optional else "MISSING", "-", "-"))
            continue
        paths = list(result.files.values())
        shown = paths[0] if len(paths) == 1 else Path(os.path.commonpath(paths))
        rows.append((result.id, result.source, str(shown), human_size(result.size_bytes)))
    widths = [max(len(row[column]) for row in rows) for column in range(4)]
    return "\n".join(
        f"{model:<{widths[0]}}  {source:<{widths[1]}}  {path:<{widths[2]}}  {size:>{widths[3]}}"
        for model, source, path, size in rows
    )
