"""A project's SAM CLI config, read as SAM CLI reads it: samconfig.toml, or else samconfig.yaml
(or .yml); its `default` environment."""

from __future__ import annotations

import codecs
import re
import shlex
import tomllib
from pathlib import Path
from typing import Any

import yaml

from workshop.errors import WorkshopError

CONFIG_FILES = ("samconfig.toml", "samconfig.yaml", "samconfig.yml")


class ConfigError(WorkshopError):
    """The config file SAM CLI would read is not valid: SAM CLI stops on it too."""


class NotUtf8(ConfigError):
    """The config is not UTF-8 without a BOM: SAM CLI stops on it with a traceback, or with a
    puzzle (an empty key at column 0), so it is said before SAM CLI runs."""


def parameters(project: Path, command: str) -> dict[str, Any]:
    """The `default` environment's global parameters, with `command`'s own over them ({} if
    there is no config, or none for it)."""
    config: Any = {}
    for name in CONFIG_FILES:
        path = Path(project) / name
        if not path.is_file():
            continue
        text = _read(path)
        try:
            config = tomllib.loads(text) if name.endswith(".toml") else yaml.safe_load(text)
        except (tomllib.TOMLDecodeError, yaml.YAMLError) as error:
            kind = "TOML" if name.endswith(".toml") else "YAML"
            message = " ".join(str(error).split()) + _backslash_hint(error, text)
            raise ConfigError(f"The project's {name} is not valid {kind} ({message})") from None
        break
    default = config.get("default") if isinstance(config, dict) else None
    default = default if isinstance(default, dict) else {}
    merged: dict[str, Any] = {}
    for section_name in ("global", command):
        section = default.get(section_name)
        found = section.get("parameters") if isinstance(section, dict) else None
        merged.update(found if isinstance(found, dict) else {})
    return merged


# SAM CLI reads its config with Python's `Path.read_text()`, in the locale's encoding, then
# parses it with tomlkit or ruamel.yaml (samcli/lib/config/file_manager.py): a UTF-16 file stops
# it, and so does a UTF-8 BOM in samconfig.toml ("Error: Empty key at line 1 col 0", SAM CLI
# 1.170 tried), where ruamel.yaml skips one in samconfig.yaml.
_UTF16_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)
# Windows PowerShell 5.1's `-Encoding utf8` writes a BOM; .NET's File.WriteAllText(path, text)
# writes UTF-8 without one (learn.microsoft.com/dotnet/api/system.io.file.writealltext).
_SAVE_WITHOUT_BOM = (
    'save it as UTF-8 without a BOM, in your editor ("UTF-8", not "UTF-8 with BOM") or in '
    'PowerShell, in its folder, with `[IO.File]::WriteAllText("$PWD\\{name}", (Get-Content '
    "{name} -Raw))` (Windows PowerShell 5.1's `Set-Content -Encoding utf8` would write a BOM)"
)


def _read(path: Path) -> str:
    """The config's text, or a ConfigError where SAM CLI could not read it either (NotUtf8 as
    its encoding)."""
    name = path.name
    try:
        data = path.read_bytes()
    except OSError as error:
        raise ConfigError(
            f"The project's {name} cannot be read ({error.strerror or error})"
        ) from None
    save = _SAVE_WITHOUT_BOM.format(name=name)
    if data.startswith(_UTF16_BOMS):  # Windows PowerShell 5.1's `>` and Out-File write this
        raise NotUtf8(f"The project's {name} is UTF-16 text, which SAM CLI cannot read: {save}")
    if data.startswith(codecs.BOM_UTF8) and name.endswith(".toml"):
        raise NotUtf8(
            f"The project's {name} starts with a byte order mark (a BOM), which SAM CLI "
            f"refuses in TOML: {save}"
        )
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise NotUtf8(
            f"The project's {name} is not UTF-8 text (byte {data[error.start]:#04x} at "
            f"position {error.start}): {save}"
        ) from None


def _backslash_hint(error: Exception, text: str) -> str:
    """What a Windows path in TOML's "double quotes" needs, where the error is on such a line."""
    at = (
        re.search(r"at line (\d+)", str(error))
        if isinstance(error, tomllib.TOMLDecodeError)
        else None
    )
    lines = text.splitlines()
    line = lines[int(at.group(1)) - 1] if at and 0 < int(at.group(1)) <= len(lines) else ""
    if not re.search(r'"[^"]*\\', line):
        return ""
    return (
        '; in TOML a backslash in "double quotes" starts an escape: write a Windows path with '
        'forward slashes ("C:/Users/me/sam-build") or in single quotes '
        "('C:\\Users\\me\\sam-build')"
    )


def parameter_overrides(project: Path) -> dict[str, str]:
    """The parameter values `sam deploy` would pass from the config's parameter_overrides:
    `Key=Value` words (a string, or a list of them), or `ParameterKey=K,ParameterValue=V`."""
    given = parameters(project, "deploy").get("parameter_overrides")
    if given is None:
        return {}
    words = shlex.split(given) if isinstance(given, str) else given
    overrides: dict[str, str] = {}
    for word in words if isinstance(words, list) else [words]:
        text = str(word)
        if text.startswith("ParameterKey="):
            key, _, value = text.removeprefix("ParameterKey=").partition(",ParameterValue=")
        else:
            key, _, value = text.partition("=")
        if not key or "=" not in text:
            raise ConfigError(
                f"The project's deploy parameter_overrides has {text!r}, which is not "
                "Key=Value: sam deploy refuses it too"
            )
        overrides[key] = value
    return overrides
