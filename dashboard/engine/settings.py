"""Server settings: which folders the Data page may open, and what one loaded source may use.

Each setting comes from an environment variable, else from a `recdash.toml` file, else a
default. Environment variables win so that one deployment can override a shared file:

| variable                  | recdash.toml key  | default                                            |
|---------------------------|-------------------|----------------------------------------------------|
| `RECDASH_ALLOWED_DIRS`    | `allowed_dirs`    | the demo cache folder and the working directory    |
| `RECDASH_MEMORY_LIMIT`    | `memory_limit`    | DuckDB's own (80 % of the machine's memory)        |
| `RECDASH_THREADS`         | `threads`         | DuckDB's own (one per core)                        |
| `RECDASH_QUERY_TIMEOUT_S` | `query_timeout_s` | 120 (0 or "off": no limit)                         |
| `RECDASH_MAX_UPLOAD_MB`   | `max_upload_mb`   | 200                                                |
| `RECDASH_UPLOAD_DIR`      | `upload_dir`      | `<system temp>/recdash-uploads`                    |
| `RECDASH_TEMP_DIR`        | `temp_dir`        | `<system temp>/recdash-duckdb` (DuckDB spills here) |
| `RECDASH_CACHE`           | `cache_dir`       | `~/.cache/recdash` (the generated demo)            |
| `RECDASH_STORAGE`         | `storage`         | `memory`; `disk`: loaded tables compressed in a temporary database file |
| `RECDASH_VALIDATED_CACHE` | `validated_cache` | `<cache_dir>-validated` (beside it, not inside); `off`: no validated copies (cache.py) |

`RECDASH_ALLOWED_DIRS` is a list separated by `os.pathsep` (`:` on Linux and macOS); in
`recdash.toml` it is a list of strings. The file is `$RECDASH_CONFIG`, else `recdash.toml` in the
working directory; it is optional. A value that does not parse is an error naming the variable
(or key and file) — never silently replaced by a default, because a typo in a limit should not
quietly lift the limit.
"""
from __future__ import annotations

import os
import re
import tempfile
import tomllib
from dataclasses import dataclass
from pathlib import Path

ENV = {
    "allowed_dirs": "RECDASH_ALLOWED_DIRS",
    "memory_limit": "RECDASH_MEMORY_LIMIT",
    "threads": "RECDASH_THREADS",
    "query_timeout_s": "RECDASH_QUERY_TIMEOUT_S",
    "max_upload_mb": "RECDASH_MAX_UPLOAD_MB",
    "upload_dir": "RECDASH_UPLOAD_DIR",
    "temp_dir": "RECDASH_TEMP_DIR",
    "cache_dir": "RECDASH_CACHE",
    "storage": "RECDASH_STORAGE",
    "validated_cache": "RECDASH_VALIDATED_CACHE",
}
# Where a loaded source's tables live. `memory`: fastest to load, ~130 bytes per event resident.
# `disk`: a temporary DuckDB file under temp_dir, compressed (~20 bytes per event) and paged in
# as queries need it: a third to half the peak memory, about twice the loading CPU.
STORAGE_KINDS = ("memory", "disk")
CONFIG_ENV = "RECDASH_CONFIG"
CONFIG_FILE = "recdash.toml"
DEFAULT_QUERY_TIMEOUT_S = 120.0
DEFAULT_MAX_UPLOAD_MB = 200
# What DuckDB's memory_limit accepts, kept to plain sizes so that a typo is caught here.
_SIZE = re.compile(r"^\s*\d+(\.\d+)?\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)\s*$", re.IGNORECASE)


class SettingsError(ValueError):
    """A setting has a value that cannot be used; the message names the variable or key."""


@dataclass(frozen=True)
class Settings:
    allowed_dirs: tuple[Path, ...]
    memory_limit: str | None = None  # DuckDB size such as "2GB"; None: DuckDB's default
    threads: int | None = None  # None: DuckDB's default
    query_timeout_s: float | None = DEFAULT_QUERY_TIMEOUT_S  # None: no limit
    max_upload_mb: int = DEFAULT_MAX_UPLOAD_MB
    upload_dir: Path = Path(tempfile.gettempdir()) / "recdash-uploads"
    temp_dir: Path = Path(tempfile.gettempdir()) / "recdash-duckdb"
    cache_dir: Path = Path.home() / ".cache" / "recdash"
    storage: str = "memory"
    # Where validated copies of loaded sources are kept (cache.py); None: no copies are kept.
    validated_cache_dir: Path | None = None


def current(environ: dict | None = None, cwd: Path | None = None) -> Settings:
    """The settings now: environment over `recdash.toml` over defaults. Cheap; read on each call
    so that a changed environment (tests, a restarted server) is seen."""
    environ = os.environ if environ is None else environ
    cwd = Path.cwd() if cwd is None else cwd
    file_values, file_name = _read_file(environ, cwd)

    def raw(key: str):
        if environ.get(ENV[key], "").strip() != "":
            return environ[ENV[key]], ENV[key]
        if key in file_values:
            return file_values[key], f"'{key}' in {file_name}"
        return None, None

    cache_value, where = raw("cache_dir")
    cache_dir = _path(cache_value, where, cwd) if cache_value is not None else Settings.cache_dir

    dirs_value, where = raw("allowed_dirs")
    if dirs_value is None:
        allowed = (cache_dir, cwd)
    else:
        if isinstance(dirs_value, str):
            parts = [p for p in dirs_value.split(os.pathsep) if p.strip()]
        elif isinstance(dirs_value, list) and all(isinstance(p, str) for p in dirs_value):
            parts = dirs_value
        else:
            raise SettingsError(f"{where} must be a list of folders, got {dirs_value!r}")
        allowed = tuple(_path(p, where, cwd) for p in parts)
    allowed = tuple(dict.fromkeys(_resolved(p) for p in allowed))

    memory_value, where = raw("memory_limit")
    memory = None
    if memory_value is not None:
        if not isinstance(memory_value, str) or not _SIZE.match(memory_value):
            raise SettingsError(f"{where} must be a size such as 2GB or 512MB, got {memory_value!r}")
        memory = memory_value.strip().replace(" ", "")

    threads_value, where = raw("threads")
    threads = None if threads_value is None else _whole(threads_value, where, minimum=1)

    timeout_value, where = raw("query_timeout_s")
    timeout: float | None = DEFAULT_QUERY_TIMEOUT_S
    if timeout_value is not None:
        if isinstance(timeout_value, str) and timeout_value.strip().lower() in ("off", "none"):
            timeout = None
        else:
            timeout = _number(timeout_value, where)
            timeout = None if timeout == 0 else timeout

    upload_value, where = raw("max_upload_mb")
    max_upload = DEFAULT_MAX_UPLOAD_MB if upload_value is None else _whole(upload_value, where, minimum=1)

    upload_value, where = raw("upload_dir")
    upload_dir = _path(upload_value, where, cwd) if upload_value is not None else Settings.upload_dir
    temp_value, where = raw("temp_dir")
    temp_dir = _path(temp_value, where, cwd) if temp_value is not None else Settings.temp_dir

    storage_value, where = raw("storage")
    storage = "memory" if storage_value is None else str(storage_value).strip().lower()
    if storage not in STORAGE_KINDS:
        raise SettingsError(f"{where} must be one of {', '.join(STORAGE_KINDS)}, got {storage_value!r}")

    validated_value, where = raw("validated_cache")
    if validated_value is None:
        # Beside the demo cache, not inside it: cache_dir is an allowed folder by default, and the
        # Data page must not open the copies (they hold other sessions' uploads).
        validated_cache_dir = cache_dir.with_name(cache_dir.name + "-validated")
    elif isinstance(validated_value, str) and validated_value.strip().lower() in ("off", "none"):
        validated_cache_dir = None
    else:
        validated_cache_dir = _path(validated_value, where, cwd)

    return Settings(
        allowed_dirs=allowed,
        memory_limit=memory,
        threads=threads,
        query_timeout_s=timeout,
        max_upload_mb=max_upload,
        upload_dir=_resolved(upload_dir),
        temp_dir=_resolved(temp_dir),
        cache_dir=cache_dir,
        storage=storage,
        validated_cache_dir=validated_cache_dir,
    )


def _read_file(environ, cwd: Path) -> tuple[dict, str | None]:
    given = environ.get(CONFIG_ENV, "").strip()
    file = Path(given).expanduser() if given else cwd / CONFIG_FILE
    if not file.is_absolute():
        file = cwd / file
    if not file.is_file():
        if given:
            raise SettingsError(f"{CONFIG_ENV} names {file}, which is not a file")
        return {}, None
    try:
        values = tomllib.loads(file.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise SettingsError(f"{file} is not valid TOML: {exc}") from None
    unknown = sorted(set(values) - set(ENV))
    if unknown:
        raise SettingsError(f"{file}: unknown setting(s) {', '.join(unknown)} (known: {', '.join(ENV)})")
    return values, str(file)


def _path(value, where: str, cwd: Path) -> Path:
    if not isinstance(value, str) or not value.strip() or "\x00" in value:
        raise SettingsError(f"{where} must be a folder path, got {value!r}")
    path = Path(value.strip()).expanduser()
    return path if path.is_absolute() else cwd / path


def _resolved(path: Path) -> Path:
    # Symlinks and `..` are resolved once here, so that the allow-list compares real folders.
    return path.resolve()


def _whole(value, where: str, minimum: int) -> int:
    try:
        number = int(str(value).strip()) if not isinstance(value, bool) else None
    except ValueError:
        number = None
    if number is None or number < minimum:
        raise SettingsError(f"{where} must be a whole number ≥ {minimum}, got {value!r}")
    return number


def _number(value, where: str) -> float:
    try:
        number = float(str(value).strip()) if not isinstance(value, bool) else None
    except ValueError:
        number = None
    if number is None or not (number >= 0) or number == float("inf"):
        raise SettingsError(f"{where} must be a number of seconds ≥ 0 (0 or 'off': no limit), got {value!r}")
    return number
