"""What a handler's code finds around it in an environment, as on Lambda: the packages of Lambda's
Python runtime and no more, and its own folder read-only.

On Lambda, sys.path holds the function's code (LAMBDA_TASK_ROOT), then /var/runtime, then the
standard library. /var/runtime holds the runtime itself (awslambdaric, with what it needs:
simplejson, in its requirements/base.txt) and the AWS SDK for Python (boto3, with botocore,
s3transfer, jmespath, python-dateutil, six and urllib3: tracebacks recorded on Lambda name
/var/runtime/botocore/, /var/runtime/boto3/ and /var/runtime/s3transfer/). An environment of
the harness runs with the harness's Python, whose site-packages hold far more (moto, Jupyter,
pydantic, the SAM CLI): a handler that imported one of them would work here and fail on AWS
with Runtime.ImportModuleError. So every sys.path entry but the code's own folder is seen through a
finder that finds only those packages, the standard library, and what the function's
requirements.txt names for Lambda, with what they need (what `sam build` packages into the code),
as far as the harness's venv has them: the harness judges each requirement's environment marker
(lambda_environment.packaged), and hands the worker the names that hold.

Lambda's code folder, /var/task, is read-only: a write there fails with EROFS, and only /tmp
may be written. Here the code runs from the learner's folder, which root could write whatever
its permissions say: an audit hook refuses the writes instead.

Lambda's /tmp is each environment's own, empty when it starts (`own_tmp`): here the environments
share the host's, so each sees a folder of its own where its code names /tmp. sqlite3 opens its
files in C, past the audit hook and those wrappers: its connect leads /tmp's databases too, and
opens the others read-only, as SQLite opens them on Lambda (`sqlite_database`).

Each environment runs on a machine of its own, whose monotonic clock counts from its own point:
here they share one, so each reads it shifted by its own uptime (`own_clock`). Standard library
only: it runs beside the handler's code.
"""

from __future__ import annotations

import builtins
import contextlib
import datetime
import errno
import functools
import importlib.machinery
import io
import os
import posixpath
import re
import sys
import tempfile
import time
from collections.abc import Callable, Collection
from typing import Any

# The top-level names of what /var/runtime holds.
RUNTIME_PACKAGES = frozenset(
    {
        "awslambdaric",
        "simplejson",
        "boto3",
        "botocore",
        "s3transfer",
        "jmespath",
        "dateutil",
        "six",
        "urllib3",
    }
)
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")  # a distribution's name, leading a requirement
OPTIONS = re.compile(r"\s-")  # where a requirement's line goes on with options
STANDARD_FINDERS = (
    importlib.machinery.BuiltinImporter,
    importlib.machinery.FrozenImporter,
    importlib.machinery.PathFinder,
)


class _OnlyThese:
    """A sys.path entry's finder, finding only the top-level names given (and their parts)."""

    def __init__(self, finder: Any, names: frozenset[str]):
        self._finder = finder
        self._names = names

    def find_spec(self, fullname: str, target: Any = None) -> Any:
        if fullname.partition(".")[0] not in self._names:
            return None
        return self._finder.find_spec(fullname, target)

    def invalidate_caches(self) -> None:
        self._finder.invalidate_caches()


def only_what_lambda_has(task_root: str | None, packaged: Collection[str] = ()) -> None:
    """Let imports find, outside `task_root`, only what Lambda's runtime would have, and the
    distributions `packaged` (with what they need)."""
    names = frozenset(RUNTIME_PACKAGES | sys.stdlib_module_names | _packaged(packaged))
    # A site's own finders (an editable install's, setuptools' distutils hack) find the
    # harness's packages outside sys.path: Lambda has none of them.
    sys.meta_path[:] = [finder for finder in sys.meta_path if finder in STANDARD_FINDERS]
    for entry in sys.path:
        if _outside_the_code_and_stdlib(entry, task_root):
            finder = _finder_for(entry)
            if finder is not None:
                sys.path_importer_cache[entry] = _OnlyThese(finder, names)
    # The worker's own package is imported already: a handler's `import workshop` must not
    # find it there either.
    for name in [name for name in sys.modules if name.partition(".")[0] == "workshop"]:
        del sys.modules[name]


def _outside_the_code_and_stdlib(entry: str, task_root: str | None) -> bool:
    """Whether a sys.path entry is the harness's: neither the code's folder nor the standard
    library's (which is below Python's own prefix, out of its site-packages)."""
    path = os.path.realpath(entry or os.getcwd())
    if task_root and path == os.path.realpath(task_root):
        return False
    if site_folder(path):
        return True
    prefixes = {os.path.realpath(sys.base_prefix), os.path.realpath(sys.base_exec_prefix)}
    return not any(path == p or path.startswith(p.rstrip(os.sep) + os.sep) for p in prefixes)


def site_folder(entry: str) -> bool:
    """Whether a sys.path entry is a folder of installed packages (site- or dist-packages)."""
    return bool({"site-packages", "dist-packages"} & set(os.path.normcase(entry).split(os.sep)))


def _finder_for(entry: str) -> Any:
    for hook in sys.path_hooks:
        try:
            return hook(entry or os.getcwd())
        except ImportError:
            continue
    return None


def requirements(task_root: str | None) -> list[tuple[str, str]]:
    """The requirements the code's requirements.txt lists: (each one's distribution, as PyPI
    compares names, and its environment marker, "" when it has none). Lines of options (-r,
    -e, --hash...) list none here."""
    if not task_root:
        return []
    try:
        with open(os.path.join(task_root, "requirements.txt"), encoding="utf-8") as file:
            lines = file.read().splitlines()
    except (OSError, UnicodeDecodeError):
        return []
    listed = []
    for line in lines:
        match = NAME.match(line.strip())
        if match:
            # pip reads a line's options (--hash=...) and comment apart from its requirement.
            marker = OPTIONS.split(line.partition(" #")[0], 1)[0].partition(";")[2]
            listed.append((_canonical(match.group(0)), marker.strip()))
    return listed


def _canonical(name: str) -> str:
    """A distribution's name as PyPI compares names (PEP 503): `Foo_Bar` is `foo-bar`."""
    return re.sub(r"[-_.]+", "-", name).lower()


def not_installed(packaged: Collection[str]) -> list[str]:
    """Of the distributions `packaged`, those the harness's venv does not have: sam build would
    package them; offline, nothing installs them, and their import fails."""
    from importlib import metadata

    missing = []
    for name in packaged:
        try:
            metadata.distribution(name)
        except metadata.PackageNotFoundError:
            missing.append(name)
    return missing


def _packaged(packaged: Collection[str]) -> set[str]:
    """The top-level names of the distributions `packaged`, and of what they need."""
    wanted = list(packaged)
    if not wanted:
        return set()
    from importlib import metadata

    names: set[str] = set()
    seen: set[str] = set()
    while wanted:
        name = _canonical(wanted.pop())
        if name in seen:
            continue
        seen.add(name)
        try:
            found = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue  # not in the harness's venv: its import fails (not_installed says so)
        names |= _top_level(found)
        wanted += [m.group(0) for needed in found.requires or () if (m := NAME.match(needed))]
    return names


def _top_level(found: Any) -> set[str]:
    """The top-level modules a distribution installs."""
    listed = found.read_text("top_level.txt")
    if listed:
        return set(listed.split())
    parts = {file.parts[0] for file in found.files or () if file.parts}
    return {
        part.split(".")[0]
        for part in parts
        if not part.endswith((".dist-info", ".data", ".pth")) and part not in ("..", "__pycache__")
    }


# Audit events of the calls that change a folder's files (CPython's audit events table):
# {event: ((index of a path it changes, index of the folder handle that path is relative to, if
# any), ...)}. A link or symlink changes the folder of its destination.
WRITES = {
    "os.remove": ((0, 1),),
    "os.rmdir": ((0, 1),),
    "os.mkdir": ((0, 2),),
    "os.rename": ((0, 2), (1, 3)),
    "os.chmod": ((0, 2),),
    "os.chown": ((0, 3),),
    "os.utime": ((0, 3),),
    "os.truncate": ((0, None),),
    "os.symlink": ((1, 2),),
    "os.link": ((1, 3),),
    "os.mknod": ((0, 3),),
    "os.mkfifo": ((0, 2),),
    "os.setxattr": ((0, None),),
    "os.removexattr": ((0, None),),
}
# An open that writes: for write access, to truncate. One that creates writes only where the
# file is missing: on a read-only file system, opening an existing file so is allowed.
WRITE_ACCESS = os.O_WRONLY | os.O_RDWR | os.O_TRUNC


def read_only(task_root: str, shown: Callable[[str], str], writable: str | None = None) -> None:
    """Refuse writes under `task_root` as Lambda's read-only file system does (its message names
    the file as `shown` gives it: where Lambda has it); with `writable` (the environment's own
    /tmp, own_tmp), writes anywhere else too, as on Lambda only /tmp may be written: a file
    kept in /var/tmp, the home folder or /dev/shm, say, would be shared by the environments
    here. The null device stays writable, as it is on Lambda."""
    root = os.path.realpath(task_root).rstrip(os.sep) + os.sep
    allowed = os.path.realpath(writable).rstrip(os.sep) + os.sep if writable else None
    devices = {os.path.realpath(os.devnull), os.devnull}

    def where(path: Any, folder: Any) -> str | None:
        """The path's full name, or None where it cannot be told (a folder handle's, unknown)."""
        if not isinstance(path, (str, bytes, os.PathLike)):
            return None  # a file descriptor
        name = os.fsdecode(path)
        if isinstance(folder, int) and not os.path.isabs(name):
            try:  # as shutil.rmtree names entries: relative to an open folder
                name = os.path.join(os.readlink(f"/proc/self/fd/{folder}"), name)
            except OSError:
                return None
        return os.path.realpath(name)

    def refuse(path: Any, folder: Any = None) -> None:
        full = where(path, folder)
        if full is None or full in devices:
            return
        elsewhere = allowed is not None and not (full + os.sep).startswith(allowed)
        if elsewhere or (full + os.sep).startswith(root):
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), shown(full))

    def hook(event: str, args: tuple[Any, ...]) -> None:
        if event == "open":
            path, _mode, flags = args
            if not isinstance(flags, int):
                return
            creates = flags & os.O_CREAT and isinstance(path, (str, bytes, os.PathLike))
            if flags & WRITE_ACCESS or (creates and not os.path.exists(path)):
                refuse(path)
        elif event in WRITES:
            for index, folder in WRITES[event]:
                refuse(args[index], args[folder] if folder is not None else None)

    sys.addaudithook(hook)


# Lambda's /tmp is "temporary and unique to each execution environment", 512 MB unless the
# function's EphemeralStorage says more (docs.aws.amazon.com/lambda/latest/dg/
# configuration-ephemeral-storage.html): a new environment finds it empty.
LAMBDA_TMP = "/tmp"
# The functions that take paths, and the parameters that are paths, in order: the calls a
# handler's code (and the standard library's: pathlib, tempfile, shutil, os.makedirs, os.walk)
# makes on files. Windows' os.path tests some in C, not through os.stat.
TAKE_PATHS = (
    (builtins, "open", ("file",)),
    (io, "open", ("file",)),
    *(
        (os, name, ("path",))
        for name in (
            *("open", "stat", "lstat", "access", "listdir", "scandir", "mkdir", "rmdir"),
            *("remove", "unlink", "chdir", "chmod", "utime", "truncate", "readlink", "statvfs"),
        )
    ),
    *((os, name, ("src", "dst")) for name in ("rename", "replace", "link", "symlink")),
    *((os.path, name, ("path",)) for name in ("exists", "lexists", "isdir", "isfile", "islink")),
)
SUPPORTS = ("supports_dir_fd", "supports_fd", "supports_follow_symlinks", "supports_effective_ids")


def own_tmp(folder: str, task_root: str | None) -> None:
    """Lead the paths under /tmp, as a handler's code names them, to `folder`: this environment's
    own /tmp, which the harness made empty and removes when the environment ends; tempfile's
    files go there too, and sqlite3's databases, once the code imports it (sqlite_as_on_lambda).

    Not covered: what does not go through the functions of TAKE_PATHS or sqlite3.connect (other
    C extensions, a file that SQL names to SQLite: ATTACH, VACUUM INTO; child processes; a
    function imported from os before this ran); a folder's name read back (os.getcwd() after
    os.chdir("/tmp"), os.scandir's entries, Windows' realpath) is the host's folder's, which
    leads there still. Nothing holds /tmp to its size."""
    kept = [folder, task_root, *sys.path, sys.prefix, sys.base_prefix, sys.exec_prefix]
    where = in_own_tmp(
        folder, [way(p) for p in kept if p for way in (os.path.abspath, os.path.realpath)]
    )
    for module, name, parameters in TAKE_PATHS:
        call = getattr(module, name, None)
        if call is None:  # not on this system (os.statvfs on Windows)
            continue
        through = _through(call, parameters, where)
        setattr(module, name, through)
        for supports in SUPPORTS:
            if call in getattr(os, supports):
                getattr(os, supports).add(through)
    tempfile.tempdir = LAMBDA_TMP  # tempfile.gettempdir() is "/tmp" on Lambda
    # Wrapped once imported, not before: most code never imports it, and importing it here
    # would lengthen every cold start's init.
    lead = functools.partial(sqlite_as_on_lambda, where=where, folder=folder)
    sys.meta_path.insert(0, _WhenImported(SQLITE, lead))


def in_own_tmp(folder: str, kept: list[str], paths: Any = os.path) -> Callable[[Any], Any]:
    """What a path leads to where /tmp is `folder` (a path of the system of `paths`): one under
    /tmp, that path in `folder`; any other itself, as one in a folder `kept` (the harness's, the
    code's, where Lambda has them elsewhere), or `folder`'s (as a path read back names it)."""

    def lambdas(name: str) -> str:
        """The path as Lambda's Linux reads it: less a drive (abspath("/tmp") on Windows is
        "C:\\tmp"), "" on a network share."""
        drive, rest = paths.splitdrive(name)
        return posixpath.normpath(rest.replace(paths.sep, "/")) if len(drive) < 3 else ""

    def under(name: str, top: str) -> bool:
        return name == top or name.startswith(top + "/")

    tops = [top for top in map(lambdas, kept) if under(top, LAMBDA_TMP)]

    def where(path: Any) -> Any:
        if not isinstance(path, (str, bytes, os.PathLike)):
            return path  # a file descriptor
        named = os.fspath(path)
        name = lambdas(os.fsdecode(named))
        if not under(name, LAMBDA_TMP) or any(under(name, top) for top in tops):
            return path
        rest = name[len(LAMBDA_TMP) :].lstrip("/")
        inside = paths.join(folder, rest) if rest else folder
        return os.fsencode(inside) if isinstance(named, bytes) else inside

    return where


def _through(call: Callable[..., Any], parameters: tuple[str, ...], where: Callable[[Any], Any]):
    """`call`, its `parameters` led by `where`; what it tells of a path it was given (an error's
    filename, an open file's name) names the path as the code did: /tmp/key, as on Lambda."""

    @functools.wraps(call)
    def through(*args: Any, **kwargs: Any) -> Any:
        named: dict[Any, Any] = {}  # where each path led elsewhere leads: the path as named

        def lead(path: Any) -> Any:
            led = where(path)
            if led is not path:
                named[led] = os.fspath(path)  # a pathlib.Path is named as its string
            return led

        args = tuple(lead(arg) if i < len(parameters) else arg for i, arg in enumerate(args))
        kwargs = {key: lead(value) if key in parameters else value for key, value in kwargs.items()}
        try:
            result = call(*args, **kwargs)
        except OSError as error:
            for attribute in ("filename", "filename2"):
                led = getattr(error, attribute)
                if isinstance(led, (str, bytes)) and led in named:
                    setattr(error, attribute, named[led])
            raise
        if named and isinstance(result, io.IOBase):  # open's file: its name is the raw file's
            buffer = getattr(result, "buffer", result)
            with contextlib.suppress(AttributeError):
                getattr(buffer, "raw", buffer).name = next(iter(named.values()))
        return result

    return through


# sqlite3 opens its databases in C, past the functions of TAKE_PATHS: its connect, which
# sqlite3 and sqlite3.dbapi2 import from this module of C, is wrapped as the module is loaded.
SQLITE = "_sqlite3"
SQLITE_URI = "file:"  # a URI filename's start (sqlite.org/uri.html): its case counts
IN_MEMORY = ":memory:"
URI_AT = 6  # where uri is in sqlite3.connect's arguments after the database, given so


class _WhenImported:
    """A meta path finder that finds nothing itself: the module `name`, which the others find,
    is handed to `then` once loaded."""

    def __init__(self, name: str, then: Callable[[Any], None]):
        self._name = name
        self._then = then

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        if fullname != self._name:
            return None
        for finder in sys.meta_path:
            spec = None if finder is self else finder.find_spec(fullname, path, target)
            if spec is not None:
                spec.loader = _ThenLoader(spec.loader, self._then)
                return spec
        return None


class _ThenLoader:
    """A loader that loads as `loader` does, then hands the module to `then`."""

    def __init__(self, loader: Any, then: Callable[[Any], None]):
        self._loader = loader
        self._then = then

    def create_module(self, spec: Any) -> Any:
        return self._loader.create_module(spec)

    def exec_module(self, module: Any) -> None:
        self._loader.exec_module(module)
        self._then(module)


def sqlite_as_on_lambda(module: Any, where: Callable[[Any], Any], folder: str) -> None:
    """Make `module`'s connect (sqlite3.connect) open the database `sqlite_database` says."""
    connect = module.connect

    @functools.wraps(connect)
    def through(database: Any, *args: Any, **kwargs: Any) -> Any:
        given = len(args) > URI_AT
        uri = args[URI_AT] if given else kwargs.get("uri", False)
        database, uri = sqlite_database(database, uri, where, folder)
        if given:
            args = (*args[:URI_AT], uri, *args[URI_AT + 1 :])
        elif uri:
            kwargs["uri"] = uri
        return connect(database, *args, **kwargs)

    module.connect = through


def sqlite_database(
    database: Any, uri: bool, where: Callable[[Any], Any], folder: str
) -> tuple[Any, bool]:
    """The database, and its uri flag, that sqlite3.connect(database, uri=uri) opens as on
    Lambda: one under /tmp, that file in `folder` (where /tmp is, as `where` leads it); one
    elsewhere, the same file read-only. There SQLite finds a read-only file system: it opens an
    existing file read-only, its writes fail with "attempt to write a readonly database", and a
    new one fails with "unable to open database file". A database in memory, or SQLite's own
    temporary one (""), is no file of the code's: it is left as it is. A relative path is
    relative to the working directory: the code's folder, /var/task."""
    from urllib.parse import quote, unquote

    if not isinstance(database, (str, bytes, os.PathLike)):
        return database, uri  # sqlite3.connect refuses it
    name = os.fsdecode(os.fspath(database))
    pairs = None  # a URI's query parameters, percent-encoded: "mode=ro"
    if uri and name.startswith(SQLITE_URI):
        rest, _, query = name[len(SQLITE_URI) :].partition("#")[0].partition("?")
        if rest.startswith("//"):
            authority, slash, rest = rest[2:].partition("/")
            if authority not in ("", "localhost"):
                return database, uri  # SQLite refuses it
            rest = slash + rest
        name = unquote(rest)
        pairs = [pair for pair in query.split("&") if pair]
        named = {tuple(unquote(part) for part in pair.split("=", 1)) for pair in pairs}
        if {("mode", "memory"), ("vfs", "memdb")} & named:
            return database, uri
    if name in ("", IN_MEMORY):
        return database, uri
    path = os.path.abspath(name)
    led = where(path)
    if led is not path:
        if pairs is None:
            return led, uri
        query = "?" + "&".join(pairs) if pairs else ""
        return f"{SQLITE_URI}{quote(os.fsencode(led))}{query}", True
    inside = os.path.realpath(folder).rstrip(os.sep) + os.sep
    if (os.path.realpath(path) + os.sep).startswith(inside):
        return database, uri
    kept = [pair for pair in pairs or () if unquote(pair.partition("=")[0]) != "mode"]
    return f"{SQLITE_URI}{quote(os.fsencode(path))}?{'&'.join([*kept, 'mode=ro'])}", True


def own_clock(uptime: float, ahead: float = 0.0) -> None:
    """time.monotonic() and time.perf_counter() (and their _ns forms) read `uptime` seconds more
    than the host's: this environment's machine's clock (lambda_environment.UPTIME_APART); the
    time of day reads `ahead` seconds later, where a check makes it later for the handler
    (FunctionRuntime.clock_ahead): time.time() and time_ns() (and so date.today()),
    clock_gettime(CLOCK_REALTIME), gmtime(), localtime(), ctime(), asctime() and strftime()
    of the time now, and datetime's now() and utcnow()."""
    for names, seconds in ((("monotonic", "perf_counter"), uptime), (("time",), ahead)):
        if not seconds:
            continue
        nanoseconds = round(seconds * 1e9)
        for name in names:
            read, read_ns = getattr(time, name), getattr(time, f"{name}_ns")
            shifted = functools.wraps(read)(lambda read=read, by=seconds: read() + by)
            shifted_ns = functools.wraps(read_ns)(lambda read=read_ns, by=nanoseconds: read() + by)
            setattr(time, name, shifted)
            setattr(time, f"{name}_ns", shifted_ns)
    if ahead:
        _now_later(ahead)
        datetime.datetime = _later(datetime.timedelta(seconds=ahead))


def _now_later(ahead: float) -> None:
    """time's functions of the time now that read the system's clock in C, not time.time()."""
    for name in ("gmtime", "localtime", "ctime"):  # f(seconds=None)
        read = getattr(time, name)
        shifted = functools.wraps(read)(
            lambda seconds=None, read=read: read(time.time() if seconds is None else seconds)
        )
        setattr(time, name, shifted)
    asctime, strftime = time.asctime, time.strftime
    time.asctime = functools.wraps(asctime)(
        lambda t=None: asctime(time.localtime() if t is None else t)
    )
    time.strftime = functools.wraps(strftime)(
        lambda format, t=None: strftime(format, time.localtime() if t is None else t)
    )
    if hasattr(time, "clock_gettime"):  # not on Windows
        for name, by in (("clock_gettime", ahead), ("clock_gettime_ns", round(ahead * 1e9))):
            read = getattr(time, name)
            shifted = functools.wraps(read)(
                lambda clock, read=read, by=by: (
                    read(clock) + (by if clock == time.CLOCK_REALTIME else 0)
                )
            )
            setattr(time, name, shifted)


def _later(delta: datetime.timedelta) -> type[datetime.datetime]:
    """datetime.datetime, whose now() and utcnow() (read from the system's clock in C, not from
    time.time()) are `delta` later."""

    class LaterDatetime(datetime.datetime):
        @classmethod
        def now(cls, tz: Any = None) -> Any:
            return super().now(tz) + delta

        @classmethod
        def utcnow(cls) -> Any:
            return super().utcnow() + delta

    LaterDatetime.__name__ = LaterDatetime.__qualname__ = "datetime"
    LaterDatetime.__module__ = "datetime"
    return LaterDatetime
