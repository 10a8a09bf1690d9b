"""The output contract: capalloc writes only inside the folder it was given with ``-o``.

- A new path is created; an empty folder is used as it is.
- A folder capalloc wrote carries a marker file (``.capalloc``: kind and format). It is
  replaced (a plan) or continued (a sweep) only when it holds nothing but files capalloc
  writes. ``force`` also replaces a plan directory without the marker (written by an older
  capalloc: only the known plan files), never a folder holding anything else.
- Everything else (a file, a folder holding other files, a folder of another kind) is
  refused with :class:`OutputDirError` before any solve, and nothing is touched.
- A writer holds an ``fcntl`` lock (``.capalloc.lock`` inside the folder) from the check
  before the solve to the end of the write: a second writer is refused at once.
- A plan is written into a staging folder inside the output folder (``.staging-XXXX``), then
  a journal (``.capalloc.journal``) lists the files to move; each move is an atomic rename.
  A write cut short at any moment (kill -9 included) is rolled forward or cleaned by the
  next writer, and readers (:func:`resolve_file`) follow the journal meanwhile.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import shutil
import signal
import tempfile
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path

from capalloc.optimizer import __version__

MARKER = ".capalloc"
MARKER_TMP = ".capalloc.tmp"
LOCK = ".capalloc.lock"
JOURNAL = ".capalloc.journal"
JOURNAL_TMP = ".capalloc.journal.tmp"
STAGING_PREFIX = ".staging-"
MARKER_FORMAT = 1
META = frozenset({MARKER, MARKER_TMP, LOCK, JOURNAL, JOURNAL_TMP})
KINDS = ("plan", "sweep", "report", "alternatives")
_SHOWN = 5  # foreign entries named in a refusal


class OutputDirError(Exception):
    """The output folder cannot be used; the message names it and the way out."""


class OutputBusyError(OutputDirError):
    """Another capalloc holds the folder's lock."""


class InterruptedAfterWrite(KeyboardInterrupt):
    """Ctrl-C arrived while a write was being committed; the write was completed first."""


def marker_text(kind: str) -> str:
    return json.dumps({"kind": kind, "format": MARKER_FORMAT, "written_by": f"capalloc {__version__}"},
                      sort_keys=True) + "\n"


def read_marker(directory: Path) -> str | None:
    """The kind in the folder's marker; None without one; OutputDirError if it is not ours."""
    path = directory / MARKER
    if not path.is_file() or path.is_symlink():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        kind = data["kind"]
    except (OSError, ValueError, KeyError, TypeError):
        raise OutputDirError(f"{directory}: its {MARKER} file is not a capalloc marker; choose "
                             "another folder") from None
    if kind not in KINDS:
        raise OutputDirError(f"{directory}: its {MARKER} file names an unknown kind {kind!r}; "
                             "choose another folder")
    return kind


def _is_meta(entry: os.DirEntry, owned: frozenset[str]) -> bool:
    """capalloc's bookkeeping: marker, lock, journal, and staging folders of owned files."""
    if entry.name in META:
        return entry.is_file(follow_symlinks=False)
    if entry.name.startswith(STAGING_PREFIX) and entry.is_dir(follow_symlinks=False):
        try:
            return all(child.name in owned | {MARKER} and child.is_file(follow_symlinks=False)
                       for child in os.scandir(entry.path))
        except OSError:
            return False
    return False


def _listing(directory: Path, owned: frozenset[str]) -> tuple[list[str], list[str]]:
    """(known files, foreign entries) of a folder, meta entries left out."""
    known, foreign = [], []
    try:
        entries = sorted(os.scandir(directory), key=lambda e: e.name)
    except OSError as error:
        raise OutputDirError(f"{directory}: cannot be read ({error.strerror}); choose another "
                             "folder") from None
    for entry in entries:
        if _is_meta(entry, owned):
            continue
        if entry.name in owned and entry.is_file(follow_symlinks=False):
            known.append(entry.name)
        else:
            foreign.append(entry.name + ("/" if entry.is_dir(follow_symlinks=False) else ""))
    return known, foreign


def _foreign_message(directory: Path, kind: str, foreign: list[str]) -> str:
    shown = ", ".join(foreign[:_SHOWN]) + (f" and {len(foreign) - _SHOWN} more" if len(foreign) > _SHOWN
                                           else "")
    what = {"plan": "plan directory", "sweep": "sweep folder"}.get(kind, f"{kind} folder")
    return (f"{directory}: holds files capalloc did not write ({shown}); capalloc writes a {what} "
            f"only into a new or empty folder or one it wrote, and --force never replaces a folder "
            "holding anything else: choose another folder")


def check_output(directory: str | Path, kind: str, owned: Iterable[str] | None, *,
                 force: bool = False) -> bool:
    """Raise OutputDirError unless ``directory`` may be written as ``kind``; touches nothing.
    ``owned``: the files capalloc writes there (None: the caller checks the contents itself,
    as a sweep's store does: a sweep never replaces anything).

    Returns whether the folder already holds capalloc's output of that kind."""
    try:
        return _check_output(Path(directory), kind, owned, force)
    except OSError as error:  # a folder that cannot be looked into is not one to write in
        raise OutputDirError(f"{directory}: cannot be read ({error.strerror}); choose a folder "
                             "you can write to") from None


def _check_output(path: Path, kind: str, owned: Iterable[str] | None, force: bool) -> bool:
    if not path.exists():
        if path.is_symlink():
            raise OutputDirError(f"{path}: is a broken symbolic link; choose another folder")
        _check_creatable(path)
        return False
    if not path.is_dir():
        raise OutputDirError(f"{path}: is a file, not a folder; capalloc writes a {kind} "
                             "folder there only if it is new, empty or one it wrote: choose another path")
    marked = read_marker(path)
    if marked is not None and marked != kind:
        raise OutputDirError(f"{path}: holds a capalloc {marked}, not a {kind}; choose another folder")
    if owned is None:
        return marked == kind
    known, foreign = _listing(path, frozenset(owned))
    if foreign:
        raise OutputDirError(_foreign_message(path, kind, foreign))
    if marked is None and known and kind == "plan" and _journal_kind(path) != kind and not force:
        raise OutputDirError(
            f"{path}: holds a plan directory without capalloc's {MARKER} marker (written by an "
            f"older capalloc: {', '.join(known)}); pass --force to replace it, or choose another "
            "folder")
    return marked == kind or bool(known)


def _check_creatable(path: Path) -> None:
    """The nearest existing ancestor must be a folder: the rest is tried when it is created."""
    for parent in path.absolute().parents:
        if parent.exists():
            if not parent.is_dir():
                raise OutputDirError(f"{path}: {parent} is a file, not a folder; choose another path")
            return


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def deferred_sigint() -> Iterator[None]:
    """Hold Ctrl-C until the block ends (a commit takes milliseconds), then raise it."""
    if threading.current_thread() is not threading.main_thread() or \
            signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        yield
        return
    caught: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: caught.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if caught:
        raise InterruptedAfterWrite()


class OutputClaim:
    """A claimed output folder: created if absent, locked, recovered; released on exit.

    Use as a context manager. Leaving it without a commit removes what it created (the lock
    file, the folders it made), so a failed solve leaves the path as it found it."""

    def __init__(self, directory: str | Path, kind: str, owned: Iterable[str] | None, *,
                 force: bool = False):
        if kind not in KINDS:
            raise ValueError(f"unknown output kind {kind!r}")
        self.dir = Path(directory)
        self.kind = kind
        self.checked = None if owned is None else frozenset(owned)
        self.owned = self.checked or frozenset()
        self.force = force
        self.committed = False
        self._fd: int | None = None
        self._created: list[Path] = []

    def __enter__(self) -> OutputClaim:
        check_output(self.dir, self.kind, self.checked, force=self.force)
        try:
            self._create()
            self._lock()
            recover(self.dir, self.owned)
            check_output(self.dir, self.kind, self.checked, force=self.force)
        except BaseException:
            self.release()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.release()

    def _create(self) -> None:
        missing = []
        for path in (self.dir, *self.dir.absolute().parents):
            if path.exists():
                break
            missing.append(path)
        for path in reversed(missing):
            try:
                os.mkdir(path)
            except FileExistsError:
                continue
            except OSError as error:
                raise OutputDirError(f"{self.dir}: cannot create {path} ({error.strerror}); choose "
                                     "a folder you can write to") from None
            self._created.append(path)

    def _lock(self) -> None:
        path = self.dir / LOCK
        while True:
            try:
                fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
            except OSError as error:
                raise OutputDirError(f"{self.dir}: cannot write in this folder ({error.strerror}); "
                                     "choose a folder you can write to") from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as error:
                os.close(fd)
                if error.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                    raise OutputBusyError(f"{self.dir}: another capalloc is writing this folder"
                                          f"{_holder(path)}; wait for it to finish or choose another "
                                          "folder") from None
                raise OutputDirError(f"{self.dir}: cannot lock this folder ({error.strerror})") from None
            # The file may have been unlinked by the previous holder between open and flock.
            try:
                same = os.stat(path, follow_symlinks=False).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd

    def commit(self, files: dict[str, str | bytes], *, keep_others: bool = False) -> Path:
        """Replace the folder's content by ``files`` (names in ``owned``) and the marker;
        ``keep_others``: add ``files`` and keep the owned files already there (a report
        written into its plan directory)."""
        if self._fd is None:
            raise RuntimeError("commit outside a claimed output folder")
        unknown = sorted(set(files) - self.owned)
        if unknown:
            raise ValueError(f"not files of a {self.kind} folder: {unknown}")
        staging = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=self.dir))
        names = [MARKER, *sorted(files)]
        contents = {MARKER: marker_text(self.kind), **files}
        with deferred_sigint():
            try:
                for name in names:
                    content = contents[name]
                    data = content.encode("utf-8") if isinstance(content, str) else content
                    with open(staging / name, "wb") as handle:
                        handle.write(data)
                        handle.flush()
                        os.fsync(handle.fileno())
                    os.chmod(staging / name, 0o644)
                _fsync_dir(staging)
            except BaseException:
                shutil.rmtree(staging, ignore_errors=True)
                raise
            known, _ = _listing(self.dir, self.owned)
            journal = {"kind": self.kind, "staging": staging.name, "files": names,
                       "remove": [] if keep_others else sorted(set(known) - set(names))}
            with open(self.dir / JOURNAL_TMP, "w", encoding="utf-8") as handle:
                handle.write(json.dumps(journal, sort_keys=True) + "\n")
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(self.dir / JOURNAL_TMP, self.dir / JOURNAL)
            _fsync_dir(self.dir)
            roll_forward(self.dir, journal)
            self.committed = True
        return self.dir

    def mark(self) -> None:
        """Write the marker now (a sweep folder is written piece by piece, not committed)."""
        tmp = self.dir / MARKER_TMP
        tmp.write_text(marker_text(self.kind), encoding="utf-8")
        os.replace(tmp, self.dir / MARKER)
        self.committed = True

    def release(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.unlink(self.dir / LOCK)  # still held: nobody can have it meanwhile
            os.close(self._fd)
            self._fd = None
        if not self.committed:
            for path in reversed(self._created):
                with contextlib.suppress(OSError):
                    os.rmdir(path)
        self._created = []


def _holder(lock_path: Path) -> str:
    with contextlib.suppress(OSError, ValueError):
        pid = int(lock_path.read_text().strip())
        return f" (process {pid})"
    return ""


def _plain(name: object) -> bool:
    return isinstance(name, str) and name not in ("", ".", "..") and "/" not in name and "\0" not in name


def _journal(directory: Path, owned: frozenset[str] | None) -> dict | None:
    """The journal of an unfinished write, if it is well formed (it is written atomically);
    ``owned``: the file names it may move or remove (None: any plain name, for readers)."""
    path = directory / JOURNAL
    if not path.is_file() or path.is_symlink():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        staging, files, remove, kind = data["staging"], data["files"], data["remove"], data["kind"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if (not _plain(staging) or not staging.startswith(STAGING_PREFIX) or kind not in KINDS
            or not isinstance(files, list) or not isinstance(remove, list)
            or not all(_plain(n) and (owned is None or n in owned | {MARKER}) for n in files + remove)):
        return None
    return data


def _journal_kind(directory: Path) -> str | None:
    with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
        return json.loads((directory / JOURNAL).read_text(encoding="utf-8"))["kind"]
    return None


def roll_forward(directory: Path, journal: dict) -> None:
    """Finish a journaled write; every step can be repeated after a kill at any point."""
    staging = directory / journal["staging"]
    for name in journal["files"]:  # the marker first: the folder is capalloc's from here on
        source = staging / name
        if source.exists():
            os.replace(source, directory / name)
    for name in journal["remove"]:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(directory / name)
    _fsync_dir(directory)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(directory / JOURNAL)
    shutil.rmtree(staging, ignore_errors=True)
    _fsync_dir(directory)


def recover(directory: Path, owned: Iterable[str]) -> None:
    """Under the lock: finish a journaled write, drop staging folders of writes cut short."""
    owned_set = frozenset(owned)
    journal = _journal(directory, owned_set)
    if journal is not None:
        roll_forward(directory, journal)
    else:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(directory / JOURNAL)
    for leftover in (JOURNAL_TMP, MARKER_TMP):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(directory / leftover)
    for entry in os.scandir(directory):
        if entry.name.startswith(STAGING_PREFIX) and _is_meta(entry, owned_set):
            shutil.rmtree(entry.path, ignore_errors=True)


def resolve_file(directory: str | Path, name: str) -> Path:
    """Where a reader finds ``name`` now: mid-write, the journal's new copy is the plan."""
    path = Path(directory)
    journal = _journal(path, None)
    if journal is not None and name in journal["files"]:
        staged = path / journal["staging"] / name
        if staged.is_file():
            return staged
    return path / name
