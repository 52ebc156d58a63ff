"""Reading moetile's safetensors files, with one clear error for each way they can be bad."""

from pathlib import Path

__all__ = ["has_format", "read_safetensors"]


def read_safetensors(path: Path, fmt: str, missing_hint: str) -> tuple[dict, dict]:
    """``(metadata, tensors)`` of ``path``, which must carry metadata ``format == fmt``."""
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        raise ValueError(f"no {fmt} file at {path}; {missing_hint}")
    try:
        with safe_open(str(path), framework="pt") as handle:
            meta = handle.metadata() or {}
            tensors = {key: handle.get_tensor(key) for key in handle.keys()}  # noqa: SIM118
    except Exception as error:  # safetensors raises its own error types for corrupt files
        raise ValueError(f"{path} is not a readable safetensors file: {error}") from None
    if meta.get("format") != fmt:
        raise ValueError(f"{path} is not a {fmt} file (format {meta.get('format')!r})")
    return meta, tensors


def has_format(path: Path, fmt: str) -> bool:
    """Whether ``path`` is a safetensors file whose metadata says ``format == fmt`` (header
    only: the tensors are not read)."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as handle:
            return (handle.metadata() or {}).get("format") == fmt
    except Exception:  # not a safetensors file at all
        return False
