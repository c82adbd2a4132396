"""A project's SAM CLI config, read as SAM CLI reads it: samconfig.toml, or else samconfig.yaml
(or .yml); its `default` environment."""

from __future__ import annotations

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


def parameters(project: Path, command: str) -> dict[str, Any]:
    """The `default` environment's global parameters, with `command`'s own over them ({} if
    there is no config, or none for it)."""
    config: Any = {}
    for name in CONFIG_FILES:
        path = Path(project) / name
        if not path.is_file():
            continue
        try:
            text = path.read_text(encoding="utf-8")
            config = tomllib.loads(text) if name.endswith(".toml") else yaml.safe_load(text)
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError, yaml.YAMLError) as error:
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
