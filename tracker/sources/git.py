"""Read a page kept in a git repository, fetching as little of it as possible.

Each source keeps one bare, blob-less clone in its cache folder. A sync fetches
the branch tip's commit and trees only; the page's own blob is fetched when it
is read. Following a moved page or reading the history deepens the clone, still
without blobs, and then fetches just the blobs of the page's revisions.

One sync at a time uses a cache: a lock file beside it, ``<cache>.lock``, is
held while a source is read, so overlapping runs (two cron jobs) wait in turn.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import re
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Literal, NamedTuple
from urllib.parse import unquote, urlsplit

from filelock import FileLock, Timeout
from git.cmd import Git

from tracker.errors import ConfigError, SourceError
from tracker.sources.base import PageRevision

log = logging.getLogger(__name__)

# The one ref the cache reads: the tip of the tracked branch.
TIP_REF = "refs/tracker/tip"

# Every git command runs with these, and so do the fetches git starts by itself
# to fill in missing blobs: only the transports we accept, never a credential
# prompt (a daemon would hang on it), and paths taken literally, not as globs.
_GIT_ENV = {
    "GIT_ALLOW_PROTOCOL": "file:https:http:ssh",
    "GIT_TERMINAL_PROMPT": "0",
    "GIT_LITERAL_PATHSPECS": "1",
}

# Automatic gc after a fetch stays in the foreground, inside the cache lock: a
# detached gc would outlive the sync and hold lock files that the next sync
# takes for leftovers of a killed git.
_GIT_CONFIG = ("-c", "gc.autoDetach=false", "-c", "maintenance.autoDetach=false")

# How long a sync waits for another sync of the same source, in seconds.
_LOCK_TIMEOUT = 60.0

# A local upload-pack ignores --filter unless it is told to accept filters.
_LOCAL_UPLOAD_PACK = "git -c uploadpack.allowFilter=true upload-pack"

# Explicit options, so that no user setting (log.showRoot, colour, signatures)
# changes the output we parse; --root shows the first commit as an addition.
_LOG_OPTIONS = (
    "--no-color",
    "--no-show-signature",
    "--root",
    "--first-parent",
    "--diff-merges=first-parent",
    "--no-renames",
    "--raw",
    "--no-abbrev",
    "-z",
)

# git's own rules: "<helper>::<address>" runs git-remote-<helper>, and so does
# "<scheme>://" for any scheme git does not know itself.
_REMOTE_HELPER = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*::")
_URL_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*)://")
_ALLOWED_SCHEMES = {"https", "http", "ssh", "file"}
# A URL in a message: git quotes URLs, which then run to the closing quote and
# may hold spaces; an unquoted one runs to the next space or quote.
_URL_IN_TEXT = re.compile(
    r"(?P<quote>['\"])?"
    r"(?P<url>[A-Za-z][A-Za-z0-9+.-]*://(?(quote)[^'\"]*|[^\s'\"]*))"
)
_QUERY_OR_FRAGMENT = re.compile(r"[?#]")
_COMMIT_ID = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")
_ERROR_LINE = re.compile(r"(?:fatal|error): (.*)")
_MAX_BRANCHES_SHOWN = 20

# git's words when the cache could not be updated (a lock file held or left
# behind by another git, a shallow file changed under it, a full disk): the
# repository may be fine, so retrying or rebuilding the cache is the advice.
_CACHE_FAILURE = re.compile(
    r"Unable to create '[^']*\.lock'|cannot lock ref|could not lock"
    r"|shallow file has changed|No space left on device"
)

# git's words when a server answered but could not serve the repository: what
# to tell the user and what to advise, tried in order.
_REACHED_BUT = (
    (
        re.compile(
            r"repository '[^']*' not found|returned error: 404|not a git repository"
            r"|does not appear to be a git repository|is this a git repository"
        ),
        "has no git repository at that address",
        "check the URL",
    ),
    (
        # TODO: dumb http is refused: it cannot serve the cache's shallow, blob-less fetches
        re.compile(r"dumb http transport"),
        "serves git only as static files (dumb http), which cannot send part "
        "of a history",
        "check the URL, or use the host's ssh URL",
    ),
    (
        re.compile(
            r"returned error: 40[13]|Authentication failed"
            r"|could not read (?:Username|Password)|Permission denied \("
        ),
        "refused access",
        "check the credentials in the URL, or your ssh key",
    ),
)


@dataclass(frozen=True)
class _Remote:
    """Where a repository lives and how git is given it."""

    url: str
    display: str
    kind: Literal["remote", "local", "bundle"]


class _Commit(NamedTuple):
    id: str
    committed_at: datetime


class _PathChange(NamedTuple):
    """One first-parent commit that changed a path."""

    commit: str
    committed_at: datetime
    parent: str | None
    status: str
    blob: str


class _PageChange(NamedTuple):
    """One commit that changed the page, with the page's path and blob after it."""

    commit: str
    committed_at: datetime
    path: str
    blob: str


class _TreeChanges(NamedTuple):
    """What one commit did to its first parent's files."""

    renamed: dict[str, str]
    added: list[str]
    deleted: list[str]


class _GitFailedError(SourceError):
    """A git command failed; the message is git's first error line."""


def check_repo_url(repo: str) -> str:
    """Check that ``repo`` uses a transport we accept; return it fit for display.

    The display form has any password or token in the URL, and its query
    string and fragment, replaced by "***".
    Raises ConfigError for transports that can run commands or go unencrypted
    (remote helpers such as ``ext::``, ``git://``, options starting with "-").
    Plain ``http://`` is accepted with a warning.
    """
    remote = _parse_remote(repo)
    if repo[:7].lower() == "http://":
        _warn_plain_http(remote.display)
    return remote.display


# Config loading, the run and each source all check the URL: warn only once.
@functools.cache
def _warn_plain_http(display: str) -> None:
    log.warning(
        "repository uses unencrypted http repo=%s; use https if the host offers it",
        display,
    )


def _parse_remote(repo: str) -> _Remote:
    """Classify ``repo``, or raise ConfigError if git must not be given it."""
    shown = _redact_value(repo)
    if not repo.strip():
        raise ConfigError("config: repo is empty; give an https or ssh URL or a path")
    if any(ord(char) < 0x20 or ord(char) == 0x7F for char in repo):
        raise ConfigError(f"config: repo {shown!r} contains control characters")
    if repo.startswith("-"):
        raise ConfigError(
            f"config: repo {shown} starts with '-', which git reads as an option; "
            "give a URL or an absolute path"
        )
    if _REMOTE_HELPER.match(repo):
        raise ConfigError(
            f"config: repo {shown} uses a git remote helper ('::'), which can run "
            "commands; give an https or ssh URL or a local path"
        )

    scheme = _URL_SCHEME.match(repo)
    if scheme:
        return _parse_url(repo, scheme[1].lower(), shown)

    # git reads "host:path" with no slash before the colon as ssh, scp style.
    target, colon, path = repo.partition(":")
    if colon and "/" not in target:
        user, _, host = target.rpartition("@")
        _check_ssh_parts(shown, user, host, path)
        return _Remote(repo, shown, "remote")

    local = Path(repo).absolute()
    if local.name.endswith(".bundle"):
        return _Remote(str(local), shown, "bundle")
    # git ignores --depth and --filter for plain paths, but not for file:// URLs.
    return _Remote(local.as_uri(), shown, "local")


def _parse_url(repo: str, scheme: str, shown: str) -> _Remote:
    """Classify a ``scheme://`` repository URL; ``scheme`` is in lower case.

    The URL given to git has its scheme in lower case: git knows transports by
    those names only and refuses "HTTPS://" ("transport 'HTTPS' not allowed").
    """
    if scheme == "git":
        raise ConfigError(
            f"config: repo {shown} uses git://, which is neither encrypted nor "
            "authenticated; use the repository's https or ssh URL"
        )
    if scheme not in _ALLOWED_SCHEMES:
        raise ConfigError(
            f"config: repo {shown} uses the unsupported transport {scheme}://; "
            "use https, ssh or file, or a local path"
        )

    url = scheme + repo[len(scheme) :]
    parts = urlsplit(url)
    if scheme == "ssh":
        user, _, host = parts.netloc.rpartition("@")
        _check_ssh_parts(shown, user, host, parts.path)
        return _Remote(url, shown, "remote")
    if scheme == "file":
        path = Path(unquote(parts.path))
        # git reads a bundle from a path but not from a file:// URL.
        if path.name.endswith(".bundle"):
            return _Remote(str(path), shown, "bundle")
        return _Remote(url, shown, "local")
    return _Remote(url, shown, "remote")


def _check_ssh_parts(shown: str, user: str, host: str, path: str) -> None:
    """Refuse ssh targets that ssh would read as options (ProxyCommand and co.)."""
    if any(part.startswith("-") for part in (user, host, path)):
        raise ConfigError(
            f"config: repo {shown} has a user, host or path starting with '-', "
            "which ssh reads as an option; check the URL"
        )


def _redact(text: str) -> str:
    """Hide the secrets of the URLs within ``text``, as ``_redact_url`` does."""
    return _URL_IN_TEXT.sub(
        lambda match: (match["quote"] or "") + _redact_url(match["url"]), text
    )


def _redact_value(value: str) -> str:
    """Hide secrets in a config value or argument, which may be one whole URL."""
    # A whole URL may hold spaces, which would end it within a text.
    return _redact_url(value) if _URL_SCHEME.match(value) else _redact(value)


def _redact_url(url: str) -> str:
    """Replace the password or token, query string and fragment of ``url`` by "***".

    Tokens travel as a lone user name (GitHub, GitLab), a password, or a query
    parameter such as ``?private_token=``.
    """
    scheme, _, rest = url.partition("://")
    authority, slash, path = rest.partition("/")
    info, at, host = authority.rpartition("@")
    if at:
        info = _hide_userinfo(scheme, info)
    address = host + slash + path
    hidden = _QUERY_OR_FRAGMENT.search(address)
    if hidden:
        address = address[: hidden.start() + 1] + "***"
    return f"{scheme}://{info}{at}{address}"


def _hide_userinfo(scheme: str, info: str) -> str:
    user, has_password, _ = info.partition(":")
    if has_password:
        return f"{user}:***"
    # A lone name before "@" in an https URL is usually a token (GitHub, GitLab).
    if scheme.lower().startswith("http"):
        return "***"
    return info


def _slugify(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "source"


class GitSource:
    """Pages kept in a git repository."""

    def __init__(
        self,
        *,
        name: str,
        repo: str,
        branch: str | None,
        path: str,
        cache_dir: Path,
        timeout: float = 300.0,
        lock_timeout: float = _LOCK_TIMEOUT,
    ) -> None:
        """Describe the source; nothing is fetched until it is read.

        ``branch`` None means the repository's default branch. ``timeout`` is
        in seconds and applies to each git command; ``lock_timeout`` is how
        many seconds a read waits for another process reading the same source.
        Raises ConfigError for a ``repo`` that ``check_repo_url`` refuses.
        """
        self.name = name
        self._display = check_repo_url(repo)
        self._remote = _parse_remote(repo)
        self._branch = branch
        self._path = PurePosixPath(path).as_posix().lstrip("/")
        self._cache_dir = cache_dir
        repo_hash = hashlib.sha1(repo.encode(), usedforsecurity=False).hexdigest()
        self._cache = cache_dir / f"{_slugify(name)}-{repo_hash[:12]}"
        self._lock_file = cache_dir / f"{self._cache.name}.lock"
        self._timeout = timeout
        self._lock_timeout = lock_timeout
        remote_ref = "HEAD" if branch is None else f"refs/heads/{branch}"
        self._refspec = f"+{remote_ref}:{TIP_REF}"

    def fetch_latest(
        self, *, known_path: str | None = None, known_commit: str | None = None
    ) -> PageRevision:
        """Fetch the branch tip and return the page as it is there.

        ``commit`` is the tip, which need not be the commit that last changed
        the page. If the page is at neither ``path`` nor ``known_path``, and
        ``known_commit`` is given, the page is followed from there across moves.
        Raises SourceError when the repository, branch or page is not found,
        or when another process keeps the source's cache locked too long.
        """
        with self._locked_cache():
            self._update()
            tip = self._tip()
            found = self._find_at(tip.id, known_path)

            if found is None and known_path is not None and known_commit is not None:
                self._deepen()
                tip = self._tip()
                found = self._find_at(tip.id, known_path) or self._find_moved(
                    tip.id, known_path, known_commit
                )
            if found is None:
                raise self._missing_page_error(tip.id, known_path)

            path, blob = found
            text = self._decode(
                self._git("cat-file", "blob", blob, network=True), tip.id, path
            )
        return PageRevision(tip.id, tip.committed_at, path, text)

    def history(self, *, known_path: str | None = None) -> list[PageRevision]:
        """Return every revision of the page, oldest first.

        The page is walked back from the branch tip along first parents,
        following it where it was moved, whether git sees a rename or a file of
        the same name deleted and added in one commit. Raises SourceError like
        ``fetch_latest``.
        """
        with self._locked_cache():
            self._update()
            self._deepen()
            tip = self._tip()
            found = self._find_at(tip.id, known_path)
            if found is None:
                raise self._missing_page_error(tip.id, known_path)

            changes = self._walk_back(tip.id, found[0])
            blobs = self._read_blobs([change.blob for change in changes])
        log.debug("history read source=%s revisions=%d", self.name, len(changes))
        return [
            PageRevision(
                change.commit,
                change.committed_at,
                change.path,
                self._decode(blobs[change.blob], change.commit, change.path),
            )
            for change in reversed(changes)
        ]

    # Locking the cache

    @contextmanager
    def _locked_cache(self) -> Iterator[None]:
        """Hold the cache's lock file, so that one process at a time uses the cache.

        Two gits fetching into one repository trip over each other's lock
        files. Raises SourceError when the other process keeps the lock past
        the lock timeout.
        """
        lock = FileLock(self._lock_file, timeout=self._lock_timeout)
        started = time.monotonic()
        try:
            self._cache_dir.mkdir(parents=True, exist_ok=True)
            lock.acquire()
        # Timeout is an OSError too, so it comes first.
        except Timeout:
            raise SourceError(
                f"another tracker process is syncing source {self.name} "
                f"(lock {self._lock_file}); try again later"
            ) from None
        except OSError as error:
            raise self._cache_error(error) from None

        try:
            log.debug(
                "cache locked source=%s waited=%.2f",
                self.name,
                time.monotonic() - started,
            )
            self._remove_stale_git_locks()
            yield
        finally:
            lock.release()

    def _remove_stale_git_locks(self) -> None:
        """Delete the lock files that a killed git left in the cache.

        With the cache lock held no other git runs in the cache, so any lock
        file there is a leftover, and git would fail on it until it is gone.
        git names each lock "<file>.lock" and forbids ref names ending so, so
        nothing else in the cache matches.
        """
        for stale in sorted(self._cache.rglob("*.lock")):
            log.warning("removing stale git lock source=%s file=%s", self.name, stale)
            try:
                stale.unlink(missing_ok=True)
            except OSError as error:
                raise SourceError(
                    f"cannot remove the stale git lock file {stale}: "
                    f"{error.strerror}; delete it by hand"
                ) from None

    # Fetching

    def _update(self) -> None:
        """Bring the cache up to the branch tip, cloning it on first use."""
        started = time.monotonic()
        if self._cache.is_dir():
            self._fetch()
        else:
            self._clone()
        seconds = time.monotonic() - started
        log.debug(
            "fetched source=%s repo=%s seconds=%.2f", self.name, self._display, seconds
        )

    def _clone(self) -> None:
        """Create the cache: a bare clone of the branch tip without blobs.

        The clone is made in a staging folder and renamed into place, so a
        failed clone leaves no half-made cache behind.
        """
        options = ["--bare", "--quiet", "--no-tags", "--single-branch"]
        if self._branch is not None:
            options += ["--branch", self._branch]
        # A bundle is read whole: it can serve neither filters nor depth.
        if self._remote.kind != "bundle":
            options += ["--filter=blob:none", "--depth", "1"]
        if self._remote.kind == "local":
            options += ["--upload-pack", _LOCAL_UPLOAD_PACK]

        try:
            staging = Path(
                tempfile.mkdtemp(prefix=f".{self._cache.name}.", dir=self._cache_dir)
            )
        except OSError as error:
            raise self._cache_error(error) from None
        try:
            self._transfer(
                ["clone", *options, "--", self._remote.url, str(staging)],
                in_cache=False,
            )
            self._prepare_clone(staging)
            staging.rename(self._cache)
        except OSError as error:
            # Another process may have made the same cache meanwhile; use it.
            if not self._cache.is_dir():
                raise self._cache_error(error) from None
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    def _prepare_clone(self, staging: Path) -> None:
        """Point the tip ref at the cloned branch and remember the upload-pack."""
        if self._remote.kind == "local":
            # Later fetches, and the fetches of missing blobs, must ask for
            # filters the same way the clone did.
            self._git(
                "config",
                "remote.origin.uploadpack",
                _LOCAL_UPLOAD_PACK,
                git_dir=staging,
            )
        try:
            head = self._git("rev-parse", "--verify", "HEAD^{commit}", git_dir=staging)
        except SourceError:
            raise SourceError(
                f"repository {self._display} has no commits on {self._where()}; "
                "check `repo` and `branch` in the config"
            ) from None
        self._git("update-ref", TIP_REF, head.decode().strip(), git_dir=staging)

    def _fetch(self) -> None:
        """Move the tip ref to the remote branch tip, fetching no blobs.

        A shallow cache stays one commit deep; a cache deepened earlier stays
        complete, so only the new commits come.
        """
        options = ["--quiet", "--no-tags"]
        if self._remote.kind != "bundle":
            options.append("--filter=blob:none")
            if self._is_shallow():
                options += ["--depth", "1"]
        self._transfer(["fetch", *options, "origin", self._refspec])

    def _deepen(self) -> None:
        """Fetch the branch's whole history, commits and trees but no blobs."""
        if not self._is_shallow():
            return
        log.debug("deepening cache source=%s", self.name)
        options = ["--quiet", "--no-tags", "--filter=blob:none", "--unshallow"]
        self._transfer(["fetch", *options, "origin", self._refspec])

    def _read_blobs(self, blobs: list[str]) -> dict[str, bytes]:
        """Read blobs by id, fetching the missing ones in a single request."""
        request = "".join(f"{blob}\n" for blob in dict.fromkeys(blobs)).encode()
        if self._remote.kind != "bundle":
            # Objects already present are skipped by git without a round trip.
            # No negotiation: a server with a reachability bitmap would take
            # our commits as proof that we hold their blobs and send nothing
            # (git's own lazy fetch of missing objects does the same).
            options = ["--quiet", "--no-tags", "--no-write-fetch-head", "--stdin"]
            options += ["--recurse-submodules=no", "--filter=blob:none"]
            self._transfer(
                ["-c", "fetch.negotiationAlgorithm=noop", "fetch", *options, "origin"],
                stdin=request,
            )

        found = _parse_batch(
            self._git("cat-file", "--batch", stdin=request, network=True)
        )
        missing = [blob for blob in blobs if blob not in found]
        if missing:
            raise SourceError(
                f"repository {self._display} did not send {len(missing)} revisions "
                f"of {self._path}; try again later"
            )
        return found

    def _is_shallow(self) -> bool:
        return self._git("rev-parse", "--is-shallow-repository").strip() == b"true"

    # Reading the cache

    def _tip(self) -> _Commit:
        output = self._git(
            "log", "-1", "--no-show-signature", "--format=%H %ct", TIP_REF
        )
        commit, timestamp = output.decode().split()
        return _Commit(commit, datetime.fromtimestamp(int(timestamp), UTC))

    def _find_at(self, commit: str, known_path: str | None) -> tuple[str, str] | None:
        """Return the page's path and blob at ``commit``, trying ``known_path`` too."""
        candidates = [self._path] if known_path is None else [self._path, known_path]
        for path in dict.fromkeys(candidates):
            blob = self._blob_at(commit, path)
            if blob is not None:
                return path, blob
        return None

    def _blob_at(self, commit: str, path: str) -> str | None:
        """Return the id of the file ``path`` at ``commit``, without fetching it."""
        for entry in self._git("ls-tree", "-z", commit, "--", path).split(b"\0"):
            meta, _, name = entry.partition(b"\t")
            fields = meta.split()
            if _decode_path(name) == path and fields[1:2] == [b"blob"]:
                return fields[2].decode()
        return None

    def _find_moved(
        self, tip: str, known_path: str, known_commit: str
    ) -> tuple[str, str] | None:
        """Follow ``known_path`` from ``known_commit`` to where it is at ``tip``.

        Returns the page's path and blob at the tip, or None. Each step takes
        the first commit after ``since`` that deleted the path and asks where
        that commit put the page, until a path exists at the tip.
        """
        if not self._has_commit(known_commit):
            log.debug(
                "known commit not in cache source=%s commit=%s", self.name, known_commit
            )
            return None

        path, since = known_path, known_commit
        while True:
            deletions = [
                change
                for change in self._log_path(f"{since}..{tip}", path)
                if change.status == "D"
            ]
            if not deletions:
                return None
            deleting = deletions[-1]
            new_path = self._moved_to(deleting, path)
            if new_path is None:
                return None

            blob = self._blob_at(tip, new_path)
            if blob is not None:
                log.warning(
                    "page moved source=%s old=%s new=%s commit=%s",
                    self.name,
                    known_path,
                    new_path,
                    deleting.commit,
                )
                return new_path, blob
            path, since = new_path, deleting.commit

    def _walk_back(self, tip: str, path: str) -> list[_PageChange]:
        """Return the commits that changed the page, newest first, across moves."""
        found: list[_PageChange] = []
        start: str | None = tip
        while start is not None:
            changes = self._log_path(start, path)
            start = None
            for change in changes:
                # The page exists where each walk starts, so an addition, which
                # ends the walk, comes before any deletion; skip one regardless.
                if change.status == "D":
                    continue
                found.append(
                    _PageChange(change.commit, change.committed_at, path, change.blob)
                )
                if change.status == "A":
                    old_path = self._moved_from(change, path)
                    if old_path is not None:
                        path, start = old_path, change.parent
                    break
        return found

    def _log_path(self, revisions: str, path: str) -> list[_PathChange]:
        """Return the first-parent commits in ``revisions`` that changed ``path``.

        Newest first, each with its first parent and the path's new blob.
        """
        output = self._git(
            "log", *_LOG_OPTIONS, "--format=%x1e%H %ct %P", revisions, "--", path
        )
        changes = []
        for record in output.split(b"\x1e")[1:]:
            header, _, diff = record.partition(b"\0")
            commit, timestamp, *parents = header.decode().split()
            fields = diff.lstrip(b"\n").split(b"\0")
            for meta, name in zip(fields[0::2], fields[1::2], strict=False):
                if _decode_path(name) != path:
                    continue
                _, _, _, blob, status = meta.decode().split()
                committed_at = datetime.fromtimestamp(int(timestamp), UTC)
                parent = parents[0] if parents else None
                changes.append(
                    _PathChange(commit, committed_at, parent, status[0], blob)
                )
        return changes

    def _moved_to(self, deleting: _PathChange, path: str) -> str | None:
        """Return where the commit that deleted ``path`` put the page, if moved."""
        tree_changes = self._tree_changes(deleting)
        if path in tree_changes.renamed:
            return tree_changes.renamed[path]
        return _same_name(path, tree_changes.added)

    def _moved_from(self, adding: _PathChange, path: str) -> str | None:
        """Return where the commit that added ``path`` took the page from, if moved."""
        tree_changes = self._tree_changes(adding)
        for old_path, new_path in tree_changes.renamed.items():
            if new_path == path:
                return old_path
        return _same_name(path, tree_changes.deleted)

    def _tree_changes(self, change: _PathChange) -> _TreeChanges:
        """Compare a commit with its first parent, with git's rename detection."""
        renamed: dict[str, str] = {}
        added: list[str] = []
        deleted: list[str] = []
        if change.parent is None:
            return _TreeChanges(renamed, added, deleted)

        # Rename detection compares contents, so git may fetch the blobs of the
        # files this commit added and deleted.
        options = ["-r", "-M", "--raw", "-z", "--no-commit-id"]
        output = self._git(
            "diff-tree", *options, change.parent, change.commit, network=True
        )
        fields = [_decode_path(field) for field in output.split(b"\0")]
        position = 0
        while position < len(fields) - 1:
            status = fields[position].split()[-1][0]
            if status in "RC":
                renamed[fields[position + 1]] = fields[position + 2]
                position += 3
                continue
            if status == "A":
                added.append(fields[position + 1])
            elif status == "D":
                deleted.append(fields[position + 1])
            position += 2
        return _TreeChanges(renamed, added, deleted)

    def _has_commit(self, commit: str) -> bool:
        if not _COMMIT_ID.fullmatch(commit):
            return False
        try:
            self._git("cat-file", "-e", f"{commit}^{{commit}}")
        except SourceError:
            return False
        return True

    def _decode(self, data: bytes, commit: str, path: str) -> str:
        try:
            # utf-8-sig drops a byte-order mark, which would stick to the first line.
            return data.decode("utf-8-sig")
        except UnicodeDecodeError as error:
            raise SourceError(
                f"{path} at commit {commit} of {self._display} is not UTF-8 text "
                f"(bad byte at offset {error.start}); check `path` in the config"
            ) from None

    # Running git

    def _git(
        self,
        *args: str,
        git_dir: Path | None = None,
        stdin: bytes | None = None,
        network: bool = False,
    ) -> bytes:
        """Run a git command in the cache and return its output.

        ``network`` marks commands that may fetch missing blobs, whose failure
        means the repository could not be reached.
        """
        try:
            return self._run(list(args), git_dir=git_dir or self._cache, stdin=stdin)
        except _GitFailedError as error:
            if network:
                raise self._remote_error(str(error)) from None
            raise SourceError(
                f"git {args[0]} failed in the cache of {self._display} at "
                f"{self._cache}: {error}; delete that folder to rebuild it"
            ) from None

    def _transfer(
        self, args: list[str], *, in_cache: bool = True, stdin: bytes | None = None
    ) -> None:
        """Run a clone or fetch; explain a failure as a missing branch or remote."""
        try:
            self._run(args, git_dir=self._cache if in_cache else None, stdin=stdin)
        except _GitFailedError as error:
            raise self._transfer_error(str(error)) from None

    def _run(
        self, args: list[str], *, git_dir: Path | None, stdin: bytes | None
    ) -> bytes:
        """Run git with ``args`` and return its standard output.

        Raises _GitFailedError with git's first error line, and SourceError
        when git runs past the timeout. git's full stderr is logged at DEBUG.
        """
        git_dir_option = ["--git-dir", str(git_dir)] if git_dir else []
        command = ["git", *_GIT_CONFIG, *git_dir_option, *args]
        started = time.monotonic()
        # GitPython feeds stdin from a file; an empty one reads like /dev/null.
        with tempfile.TemporaryFile() as stream:
            stream.write(stdin or b"")
            stream.seek(0)
            status, stdout, stderr = Git().execute(
                command,
                istream=stream,
                with_extended_output=True,
                with_exceptions=False,
                stdout_as_string=False,
                strip_newline_in_stdout=False,
                kill_after_timeout=self._timeout,
                env=_GIT_ENV,
            )
        if status == 0:
            return stdout

        seconds = time.monotonic() - started
        log.debug(
            "git failed source=%s command=%s status=%d seconds=%.1f stderr=%s",
            self.name,
            " ".join(_redact_value(arg) for arg in args),
            status,
            seconds,
            _redact(stderr),
        )
        if seconds >= self._timeout:
            raise SourceError(
                f"git {args[0]} on repository {self._display} did not finish within "
                f"{self._timeout:g} seconds; check your network and try again"
            )
        raise _GitFailedError(_first_error_line(stderr, status))

    # Errors

    def _where(self) -> str:
        return (
            "the default branch" if self._branch is None else f"branch {self._branch}"
        )

    def _transfer_error(self, reason: str) -> SourceError:
        if self._branch is not None:
            branches = self._remote_branches()
            if branches is not None and self._branch not in branches:
                shown = ", ".join(branches[:_MAX_BRANCHES_SHOWN]) or "(none)"
                if len(branches) > _MAX_BRANCHES_SHOWN:
                    shown += f" and {len(branches) - _MAX_BRANCHES_SHOWN} more"
                return SourceError(
                    f"branch {self._branch} not found in {self._display}; "
                    f"branches: {shown}; check `branch` in the config"
                )
        return self._remote_error(reason)

    def _remote_error(self, reason: str) -> SourceError:
        """Explain a failed fetch: the cache, a server that answered, or the network."""
        if _CACHE_FAILURE.search(reason):
            return SourceError(
                f"cannot update the cache of {self._display} at {self._cache}: "
                f"{reason}; try again, and if it persists delete that folder to "
                "rebuild it"
            )
        # Only a remote has a server to reach; a local path is there or not.
        if self._remote.kind == "remote":
            for pattern, problem, advice in _REACHED_BUT:
                if pattern.search(reason):
                    return SourceError(
                        f"repository {self._display} was reached but {problem}: "
                        f"{reason}; {advice}"
                    )
        return SourceError(
            f"cannot reach repository {self._display}: {reason}; "
            "check the URL and your network or credentials"
        )

    def _remote_branches(self) -> list[str] | None:
        """Return the remote's branch names, or None if it cannot be asked."""
        try:
            output = self._run(
                ["ls-remote", "--heads", self._remote.url], git_dir=None, stdin=None
            )
        except _GitFailedError:
            return None
        refs = [line.partition("\t")[2] for line in output.decode().splitlines()]
        return sorted(ref.removeprefix("refs/heads/") for ref in refs)

    def _missing_page_error(self, tip: str, known_path: str | None) -> SourceError:
        seen = ""
        if known_path is not None and known_path != self._path:
            seen = f" (last seen at {known_path})"
        return SourceError(
            f"{self._path}{seen} is not in {self._where()} at commit {tip} of "
            f"{self._display}; check `path` in the config of source {self.name}"
        )

    def _cache_error(self, error: OSError) -> SourceError:
        return SourceError(
            f"cannot write the cache folder {self._cache_dir}: {error.strerror}; "
            "check that it exists and is writable"
        )


def _same_name(path: str, candidates: list[str]) -> str | None:
    """Return the one candidate with the same file name as ``path``, if exactly one.

    Vendors move pages while rewriting them, which git does not see as a rename.
    """
    name = PurePosixPath(path).name
    matches = [
        candidate for candidate in candidates if PurePosixPath(candidate).name == name
    ]
    return matches[0] if len(matches) == 1 else None


def _parse_batch(output: bytes) -> dict[str, bytes]:
    """Split ``git cat-file --batch`` output into blob id -> content."""
    blobs: dict[str, bytes] = {}
    position = 0
    while position < len(output):
        header_end = output.index(b"\n", position)
        header = output[position:header_end].decode().split()
        position = header_end + 1
        if len(header) != 3:  # "<id> missing"
            continue
        size = int(header[2])
        blobs[header[0]] = output[position : position + size]
        position += size + 1
    return blobs


def _decode_path(raw: bytes) -> str:
    # Paths are bytes to git; surrogateescape keeps odd ones round-trippable.
    return raw.decode("utf-8", "surrogateescape")


def _first_error_line(stderr: str, status: int) -> str:
    """Return git's first error line, without secrets, for a one-line message."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    for line in lines:
        match = _ERROR_LINE.match(line)
        if match:
            return _redact(match[1])
    return _redact(lines[0]) if lines else f"git exited with status {status}"
