"""One per-user cache: the same folder from any working directory, moved by one environment
variable, said on first use, shown and cleared by ``moetile cache`` (which removes only what
moetile keeps there)."""

from moetile.app.cli import main
from moetile.app.cli.cache import KINDS
from moetile.sw import paths
from moetile.sw.paths import CACHE_DIR_ENV, cache_root, locked_file


def test_the_cache_is_per_user_not_per_directory(tmp_path, monkeypatch):
    monkeypatch.delenv(CACHE_DIR_ENV)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    roots = set()
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        monkeypatch.chdir(tmp_path / folder)
        roots.add(cache_root())
    assert roots == {tmp_path / "xdg" / "moetile"}
    monkeypatch.setenv(CACHE_DIR_ENV, str(tmp_path / "elsewhere"))
    assert cache_root() == tmp_path / "elsewhere"


def test_first_use_says_where_the_cache_is(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv(CACHE_DIR_ENV, str(tmp_path))
    monkeypatch.setattr(paths, "_announced", set())
    for _ in range(2):
        with locked_file(tmp_path / "designs" / ".lock"):
            pass
    lines = capsys.readouterr().err.splitlines()
    assert lines == [
        f"... cache: {tmp_path} (`moetile cache` shows and clears it; ${CACHE_DIR_ENV} moves it)"
    ]
    with locked_file(tmp_path.parent / "elsewhere.lock"):  # not the cache: nothing said
        pass
    assert capsys.readouterr().err == ""


def _fill(root):
    for n, kind in enumerate(KINDS, 1):
        (root / kind / "sub").mkdir(parents=True)
        (root / kind / "sub" / "file").write_bytes(b"x" * 100_000 * n)
    (root / "notes.txt").write_text("mine")


def test_cache_shows_each_kind_with_its_size(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv(CACHE_DIR_ENV, str(tmp_path))
    _fill(tmp_path)
    assert main(["cache"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"cache: {tmp_path}"
    assert out[1].split() == ["kind", "MB", "files", "holds"]
    sizes = {line.split()[0]: line.split()[1:3] for line in out[2 : 2 + len(KINDS)]}
    assert sizes == {kind: [f"{n / 10:.1f}", "1"] for n, kind in enumerate(KINDS, 1)}
    total = sum(range(1, len(KINDS) + 1)) / 10
    assert out[-1].startswith(f"total {total:.1f} MB;")


def test_cache_clear_removes_only_moetiles_kinds(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv(CACHE_DIR_ENV, str(tmp_path))
    _fill(tmp_path)
    assert main(["cache", "clear", "designs"]) == 0
    assert not (tmp_path / "designs").exists() and (tmp_path / "models").exists()
    assert main(["cache", "clear"]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]
    assert "freed" in capsys.readouterr().out
    assert main(["cache", "clear", "everything"]) == 2
    assert "unknown cache kind 'everything'; kinds: designs" in capsys.readouterr().err
