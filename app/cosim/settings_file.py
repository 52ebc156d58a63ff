"""A run's settings as a TOML file beside its report, and read back (``moetile cosim --config``)
so that the run can be repeated exactly (standard library only)."""

import json
import tomllib
from pathlib import Path

from moetile.sw.console import UserError

__all__ = ["SETTINGS_FILE", "read_settings", "settings_toml"]

SETTINGS_FILE = "settings.toml"


def settings_toml(settings: dict) -> str:
    """``settings`` (names to strings, numbers and booleans) as TOML, one line each; a setting
    of ``None`` (its default) is left out."""
    lines = ["# moetile cosim --config FILE reruns these settings"]
    for name, value in settings.items():
        if value is None:
            continue
        if not isinstance(value, str | int | float | bool):
            raise TypeError(f"setting {name} is a {type(value).__name__}, not a TOML scalar")
        lines.append(f"{name} = {json.dumps(value)}")  # JSON's scalars are TOML's
    return "\n".join(lines) + "\n"


def read_settings(path: Path, allowed: tuple[str, ...]) -> dict:
    """The settings in the TOML file ``path``; a name not in ``allowed`` is refused."""
    try:
        values = tomllib.loads(Path(path).read_text())
    except OSError as error:
        raise UserError(f"cannot read --config {path}: {error.strerror}") from None
    except tomllib.TOMLDecodeError as error:
        raise UserError(f"--config {path} is not valid TOML: {error}") from None
    for name in values:
        if name not in allowed:
            raise UserError(
                f"--config {path}: unknown setting {name!r}; allowed: {', '.join(allowed)}"
            )
    return values
