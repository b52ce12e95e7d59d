"""GitSource against real repositories in a temporary folder; no network."""

from __future__ import annotations

import hashlib
import itertools
import logging
import os
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from filelock import FileLock

from tests.sources.conftest import GitRepo, ServerKind
from tracker.errors import ConfigError, SourceError
from tracker.sources import SOURCE_KINDS
from tracker.sources.git import GitSource, check_repo_url

MakeRepo = Callable[..., GitRepo]
ServeHttp = Callable[[ServerKind, Path], str]

PAGE = "docs/upcoming-changes.md"
BUNDLE = (
    Path(__file__).resolve().parents[2].parent
    / "shared"
    / "fixtures"
    / "clarifai-upcoming-history.bundle"
)


def make_source(
    repo: str | Path,
    cache_dir: Path,
    *,
    path: str = PAGE,
    branch: str | None = "main",
    timeout: float = 60.0,
    lock_timeout: float = 60.0,
) -> GitSource:
    return GitSource(
        name="Vendor API",
        repo=str(repo),
        branch=branch,
        path=path,
        cache_dir=cache_dir,
        timeout=timeout,
        lock_timeout=lock_timeout,
    )


def cache_folder(cache_dir: Path) -> Path:
    """Return the source's cache folder, the only folder under ``cache_dir``."""
    (cache,) = [folder for folder in cache_dir.iterdir() if folder.is_dir()]
    return cache


def cache_git(cache_dir: Path, *args: str) -> str:
    """Run git in the source's cache folder."""
    result = subprocess.run(
        ["git", "--git-dir", str(cache_folder(cache_dir)), *args],
        capture_output=True,
        check=True,
    )
    return result.stdout.decode()


def folder_size(folder: Path) -> int:
    return sum(file.stat().st_size for file in folder.rglob("*") if file.is_file())


@pytest.fixture
def closed_port() -> int:
    """Return a port on 127.0.0.1 that nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def origin(make_repo: MakeRepo) -> GitRepo:
    """A repository whose page has had one revision."""
    repo = make_repo()
    repo.write(PAGE, "# Upcoming changes\n\n## 2024-06-01 Old endpoint removed\n")
    repo.write("README.md", "Docs\n")
    repo.commit("Add the changes page")
    return repo


# Fetching the latest revision


def test_first_fetch_reads_page_at_tip_with_commit_id_and_commit_time(
    origin: GitRepo, cache_dir: Path
) -> None:
    tip = origin.git("rev-parse", "HEAD")

    revision = make_source(origin.path, cache_dir).fetch_latest()

    assert revision.commit == tip
    assert revision.committed_at == origin.commit_times[tip]
    assert revision.committed_at.tzinfo == UTC
    assert revision.path == PAGE
    assert revision.text == "# Upcoming changes\n\n## 2024-06-01 Old endpoint removed\n"


def test_later_fetch_sees_new_commits(origin: GitRepo, cache_dir: Path) -> None:
    source = make_source(origin.url, cache_dir)
    first = source.fetch_latest()

    origin.write(PAGE, "# Upcoming changes\n\n## 2024-07-01 New limits\n")
    tip = origin.commit("Announce new limits")
    second = source.fetch_latest()

    assert first.commit != second.commit
    assert second.commit == tip
    assert second.committed_at == origin.commit_times[tip]
    assert "New limits" in second.text


def test_fetch_reports_tip_even_when_page_did_not_change(
    origin: GitRepo, cache_dir: Path
) -> None:
    source = make_source(origin.url, cache_dir)
    first = source.fetch_latest()

    origin.write("README.md", "Docs, reworded\n")
    tip = origin.commit("Reword the readme")

    assert source.fetch_latest().commit == tip
    assert source.fetch_latest().text == first.text


def test_default_branch_is_read_when_branch_is_none(
    make_repo: MakeRepo, cache_dir: Path
) -> None:
    repo = make_repo(branch="trunk")
    repo.write(PAGE, "on trunk\n")
    repo.commit("Trunk page")
    repo.git("branch", "other")

    revision = make_source(repo.url, cache_dir, branch=None).fetch_latest()

    assert revision.text == "on trunk\n"


def test_cache_is_one_folder_per_source_named_after_name_and_repo(
    origin: GitRepo, cache_dir: Path
) -> None:
    make_source(origin.url, cache_dir).fetch_latest()
    make_source(origin.path, cache_dir).fetch_latest()

    digests = [
        hashlib.sha1(repo.encode()).hexdigest()[:12]
        for repo in (origin.url, str(origin.path))
    ]
    expected = {f"vendor-api-{digest}" for digest in digests}
    assert {folder.name for folder in cache_dir.iterdir() if folder.is_dir()} == (
        expected
    )


def test_cache_has_no_work_tree(origin: GitRepo, cache_dir: Path) -> None:
    source = make_source(origin.url, cache_dir)
    source.fetch_latest()

    assert cache_git(cache_dir, "rev-parse", "--is-bare-repository") == "true\n"
    assert not list(cache_dir.rglob("upcoming-changes.md"))


def test_page_at_known_path_is_read_when_configured_path_is_missing(
    origin: GitRepo, cache_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    source = make_source(origin.url, cache_dir, path="docs/old-name.md")

    revision = source.fetch_latest(known_path=PAGE)

    assert revision.path == PAGE
    assert not caplog.records


# Errors


def test_missing_path_names_path_branch_and_commit(
    origin: GitRepo, cache_dir: Path
) -> None:
    source = make_source(origin.url, cache_dir, path="docs/nope.md")

    with pytest.raises(SourceError) as raised:
        source.fetch_latest()

    message = str(raised.value)
    assert "docs/nope.md is not in branch main" in message
    assert origin.git("rev-parse", "HEAD") in message
    assert "check `path` in the config" in message
    assert "\n" not in message


def test_missing_branch_lists_the_branches(origin: GitRepo, cache_dir: Path) -> None:
    origin.git("branch", "release")

    with pytest.raises(SourceError) as raised:
        make_source(origin.url, cache_dir, branch="mian").fetch_latest()

    message = str(raised.value)
    assert f"branch mian not found in {origin.url}; branches: main, release" in message
    assert not [folder for folder in cache_dir.iterdir() if folder.is_dir()]


def test_unreachable_repository_names_it(tmp_path: Path, cache_dir: Path) -> None:
    missing = tmp_path / "does-not-exist"

    with pytest.raises(SourceError) as raised:
        make_source(missing, cache_dir).fetch_latest()

    message = str(raised.value)
    assert message.startswith(f"cannot reach repository {missing}: ")
    assert message.endswith("check the URL and your network or credentials")
    assert "\n" not in message


def test_refused_connection_is_unreachable(closed_port: int, cache_dir: Path) -> None:
    url = f"https://127.0.0.1:{closed_port}/docs.git"

    with pytest.raises(SourceError) as raised:
        make_source(url, cache_dir).fetch_latest()

    message = str(raised.value)
    assert message.startswith(f"cannot reach repository {url}: ")
    assert message.endswith("check the URL and your network or credentials")


def serve_bare_copy(origin: GitRepo, folder: Path) -> None:
    """Put a bare copy of ``origin`` in ``folder``, readable as static files."""
    subprocess.run(
        ["git", "clone", "--quiet", "--bare", str(origin.path), str(folder)],
        check=True,
    )
    subprocess.run(["git", "-C", str(folder), "update-server-info"], check=True)


@pytest.mark.parametrize(
    ("kind", "address", "problem", "advice"),
    [
        (
            "static",
            "missing.git",
            "has no git repository at that address",
            "check the URL",
        ),
        ("static", "www/", "has no git repository at that address", "check the URL"),
        (
            "git",
            "missing.git",
            "has no git repository at that address",
            "check the URL",
        ),
        (
            "static",
            "docs.git",
            "serves git only as static files (dumb http)",
            "check the URL, or use the host's ssh URL",
        ),
        (
            "refusing",
            "docs.git",
            "refused access",
            "check the credentials in the URL, or your ssh key",
        ),
    ],
)
def test_server_that_answered_is_not_called_unreachable(
    kind: ServerKind,
    address: str,
    problem: str,
    advice: str,
    origin: GitRepo,
    tmp_path: Path,
    cache_dir: Path,
    serve_http: ServeHttp,
) -> None:
    root = tmp_path / "site"
    (root / "www").mkdir(parents=True)
    (root / "www" / "index.html").write_text("<p>Welcome</p>\n")
    serve_bare_copy(origin, root / "docs.git")
    url = f"{serve_http(kind, root)}/{address}"

    with pytest.raises(SourceError) as raised:
        make_source(url, cache_dir).fetch_latest()

    message = str(raised.value)
    assert message.startswith(f"repository {url} was reached but {problem}")
    assert message.endswith(f"; {advice}")
    assert "cannot reach" not in message
    assert "\n" not in message


def test_failed_fetch_leaves_cache_usable(origin: GitRepo, cache_dir: Path) -> None:
    source = make_source(origin.url, cache_dir)
    first = source.fetch_latest()
    moved_away = origin.path.with_name("elsewhere")
    origin.path.rename(moved_away)

    with pytest.raises(SourceError, match="cannot reach repository"):
        source.fetch_latest()

    moved_away.rename(origin.path)
    origin.write(PAGE, "changed\n")
    tip = origin.commit("Change")
    assert cache_git(cache_dir, "rev-parse", "refs/tracker/tip").strip() == (
        first.commit
    )
    assert source.fetch_latest().commit == tip


def test_undecodable_page_names_commit_and_path(
    origin: GitRepo, cache_dir: Path
) -> None:
    origin.write(PAGE, b"# Changes\n\xff\xfe broken\n")
    tip = origin.commit("Break the encoding")

    with pytest.raises(SourceError) as raised:
        make_source(origin.url, cache_dir).fetch_latest()

    assert f"{PAGE} at commit {tip}" in str(raised.value)
    assert "not UTF-8" in str(raised.value)


def test_slow_git_is_killed_after_the_timeout(
    tmp_path: Path, cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An "ssh" that never answers stands in for a stalled server.
    fake_ssh = tmp_path / "fake-ssh"
    fake_ssh.write_text("#!/bin/sh\nexec sleep 30\n")
    fake_ssh.chmod(0o755)
    monkeypatch.setenv("GIT_SSH_COMMAND", str(fake_ssh))
    monkeypatch.setenv("GIT_SSH_VARIANT", "simple")
    source = make_source("ssh://git@example.invalid/docs.git", cache_dir, timeout=1)

    with pytest.raises(SourceError, match="did not finish within 1 seconds"):
        source.fetch_latest()


# Concurrent syncs and the cache lock


def test_concurrent_syncs_of_one_source_all_succeed(
    origin: GitRepo, cache_dir: Path
) -> None:
    make_source(origin.url, cache_dir).fetch_latest()
    failures: list[str] = []
    tips: list[str] = []

    def sync(barrier: threading.Barrier, read_history: bool) -> None:
        source = make_source(origin.url, cache_dir)
        barrier.wait()
        try:
            if read_history:
                tips.append(source.history()[-1].commit)
            else:
                tips.append(source.fetch_latest().commit)
        except SourceError as error:
            failures.append(str(error))

    # Each round starts four syncs at once, as overlapping cron jobs would.
    for round_number in range(3):
        origin.write(PAGE, f"round {round_number}\n")
        tip = origin.commit(f"Round {round_number}")
        barrier = threading.Barrier(4)
        threads = [
            threading.Thread(target=sync, args=(barrier, number == 3))
            for number in range(4)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

        assert failures == []
        assert tips[-4:] == [tip] * 4


def lock_of(cache_dir: Path) -> FileLock:
    """Return a lock on the file beside the source's cache folder."""
    cache = cache_folder(cache_dir)
    return FileLock(cache.with_name(f"{cache.name}.lock"))


def test_sync_waits_while_another_process_holds_the_cache(
    origin: GitRepo, cache_dir: Path
) -> None:
    make_source(origin.url, cache_dir).fetch_latest()
    origin.write(PAGE, "changed\n")
    tip = origin.commit("Change")
    results: list[str] = []
    waiting = threading.Thread(
        target=lambda: results.append(
            make_source(origin.url, cache_dir).fetch_latest().commit
        )
    )

    with lock_of(cache_dir):
        waiting.start()
        time.sleep(0.5)
        assert waiting.is_alive()
    waiting.join(timeout=30)

    assert results == [tip]


def test_sync_gives_up_when_the_cache_stays_locked(
    origin: GitRepo, cache_dir: Path
) -> None:
    make_source(origin.url, cache_dir).fetch_latest()
    cache = cache_folder(cache_dir)

    with lock_of(cache_dir), pytest.raises(SourceError) as raised:
        make_source(origin.url, cache_dir, lock_timeout=0.2).history()

    assert str(raised.value) == (
        "another tracker process is syncing source Vendor API "
        f"(lock {cache}.lock); try again later"
    )


def test_lock_files_left_by_a_killed_git_are_removed(
    origin: GitRepo, cache_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    source = make_source(origin.url, cache_dir)
    source.fetch_latest()
    cache = cache_folder(cache_dir)
    stale = [
        cache / "shallow.lock",
        cache / "packed-refs.lock",
        cache / "config.lock",
        cache / "refs" / "tracker" / "tip.lock",
    ]
    for file in stale:
        file.write_text("")
    origin.write(PAGE, "changed\n")
    tip = origin.commit("Change")

    revision = source.fetch_latest()

    assert revision.commit == tip
    assert not [file for file in stale if file.exists()]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == [
        f"removing stale git lock source=Vendor API file={file}"
        for file in sorted(stale)
    ]


def test_lock_taken_by_another_git_is_a_cache_problem_not_a_network_one(
    origin: GitRepo, cache_dir: Path, tmp_path: Path
) -> None:
    # Another git takes the shallow lock while the sync's fetch runs: the
    # upload-pack the cache is told to use takes it before serving.
    source = make_source(origin.url, cache_dir)
    source.fetch_latest()
    cache = cache_folder(cache_dir)
    upload_pack = cache_git(cache_dir, "config", "remote.origin.uploadpack").strip()
    intruder = tmp_path / "upload-pack"
    intruder.write_text(
        f'#!/bin/sh\ntouch {cache}/shallow.lock\nexec {upload_pack} "$@"\n'
    )
    intruder.chmod(0o755)
    cache_git(cache_dir, "config", "remote.origin.uploadpack", str(intruder))
    origin.write(PAGE, "changed\n")
    tip = origin.commit("Change")

    with pytest.raises(SourceError) as raised:
        source.fetch_latest()

    message = str(raised.value)
    assert message.startswith(
        f"cannot update the cache of {origin.url} at {cache}: "
        f"Unable to create '{cache}/shallow.lock': File exists."
    )
    assert message.endswith(
        "try again, and if it persists delete that folder to rebuild it"
    )
    assert "cannot reach" not in message
    cache_git(cache_dir, "config", "remote.origin.uploadpack", upload_pack)
    assert source.fetch_latest().commit == tip


def test_automatic_gc_finishes_before_the_sync_returns(
    origin: GitRepo, cache_dir: Path
) -> None:
    # A gc left running in the background would collide with the next sync.
    source = make_source(origin.url, cache_dir)
    source.fetch_latest()
    cache_git(cache_dir, "config", "gc.auto", "1")
    cache_git(cache_dir, "config", "gc.autoPackLimit", "1")

    for number in range(3):
        origin.write(PAGE, f"revision {number}\n")
        origin.commit(f"Revision {number}")
        source.fetch_latest()

        assert "packs: 1\n" in cache_git(cache_dir, "count-objects", "-v")
        assert not (cache_folder(cache_dir) / "gc.pid").exists()
        assert not (cache_folder(cache_dir) / "gc.log").exists()


# Unsafe transports and secrets


@pytest.mark.parametrize(
    "repo",
    [
        "ext::sh -c touch% /tmp/pwned",
        "fd::3",
        "transport::https://example.invalid/docs.git",
        "--upload-pack=touch /tmp/pwned",
        "-oProxyCommand=touch /tmp/pwned:docs.git",
        "git://example.invalid/docs.git",
        "ftp://example.invalid/docs.git",
        "ssh://-oProxyCommand=touch%20pwned/docs.git",
        "git@-oProxyCommand=x:docs.git",
        "https://example.invalid/docs.git\nhelper=x",
    ],
)
def test_unsafe_transports_are_refused(repo: str, cache_dir: Path) -> None:
    with pytest.raises(ConfigError) as raised:
        check_repo_url(repo)
    with pytest.raises(ConfigError):
        make_source(repo, cache_dir)

    assert repo.splitlines()[0][:12] in str(raised.value)
    assert not cache_dir.exists()


@pytest.mark.parametrize("helper", ["ext", "pwn"])
def test_git_runs_no_remote_helper_even_from_cache_config(
    helper: str,
    origin: GitRepo,
    cache_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # git blocks ext:: by default but runs any other git-remote-<name> on PATH;
    # only the source's protocol allow-list stops that one.
    marker = tmp_path / "pwned"
    helpers = tmp_path / "bin"
    helpers.mkdir()
    script = helpers / "git-remote-pwn"
    script.write_text(f"#!/bin/sh\ntouch {marker}\nexit 1\n")
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{helpers}{os.pathsep}{os.environ['PATH']}")
    source = make_source(origin.url, cache_dir)
    source.fetch_latest()
    url = f"ext::sh -c touch% {marker}" if helper == "ext" else "pwn::anything"
    cache_git(cache_dir, "config", "remote.origin.url", url)

    with pytest.raises(SourceError, match="cannot reach repository"):
        source.fetch_latest()

    assert not marker.exists()


@pytest.mark.parametrize(
    ("repo", "shown"),
    [
        (
            "https://bot:s3cret@example.invalid/docs.git",
            "https://bot:***@example.invalid/docs.git",
        ),
        (
            "https://ghp_token123@example.invalid/docs.git",
            "https://***@example.invalid/docs.git",
        ),
        ("https://example.invalid/docs.git", "https://example.invalid/docs.git"),
        ("ssh://git@example.invalid/docs.git", "ssh://git@example.invalid/docs.git"),
        ("git@example.invalid:vendor/docs.git", "git@example.invalid:vendor/docs.git"),
        ("file:///srv/docs.git", "file:///srv/docs.git"),
        ("/srv/docs.git", "/srv/docs.git"),
        ("/srv/docs.bundle", "/srv/docs.bundle"),
        (
            "https://example.invalid/docs.git?private_token=s3cret",
            "https://example.invalid/docs.git?***",
        ),
        (
            "https://example.invalid/docs.git#s3cret",
            "https://example.invalid/docs.git#***",
        ),
        (
            "https://bot:s3cret@example.invalid/docs.git?token=s3cret#top",
            "https://bot:***@example.invalid/docs.git?***",
        ),
        (
            "https://example.invalid?token=s3cret",
            "https://example.invalid?***",
        ),
        (
            "HTTPS://ghp_token123@example.invalid/docs.git",
            "HTTPS://***@example.invalid/docs.git",
        ),
    ],
)
def test_check_repo_url_returns_display_form_without_secrets(
    repo: str, shown: str
) -> None:
    assert check_repo_url(repo) == shown


def test_plain_http_is_accepted_with_one_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    shown = check_repo_url("http://bot:s3cret@example.invalid/docs.git")
    check_repo_url("http://bot:s3cret@example.invalid/docs.git")

    assert shown == "http://bot:***@example.invalid/docs.git"
    (record,) = caplog.records
    assert record.levelno == logging.WARNING
    assert "s3cret" not in record.getMessage()


@pytest.mark.parametrize(
    ("address", "shown"),
    [
        ("bot:s3cret@127.0.0.1:{port}/docs.git", "bot:***@127.0.0.1:{port}/docs.git"),
        ("s3cret@127.0.0.1:{port}/docs.git", "***@127.0.0.1:{port}/docs.git"),
        (
            "bot:s3cret@127.0.0.1:{port}/docs.git?token=s3cret2#s3cret3",
            "bot:***@127.0.0.1:{port}/docs.git?***",
        ),
        # git quotes the URL in its message; the space must not end it early.
        (
            "127.0.0.1:{port}/my docs.git?token=s3cret",
            "127.0.0.1:{port}/my docs.git?***",
        ),
    ],
)
def test_errors_and_logs_never_show_the_token(
    address: str,
    shown: str,
    closed_port: int,
    cache_dir: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # GitPython logs whole commands at DEBUG; logsetup keeps it at INFO.
    caplog.set_level(logging.INFO, logger="git")
    caplog.set_level(logging.DEBUG)
    source = make_source(f"https://{address.format(port=closed_port)}", cache_dir)

    with pytest.raises(SourceError) as raised:
        source.fetch_latest()

    message = str(raised.value)
    assert message.startswith(
        f"cannot reach repository https://{shown.format(port=closed_port)}: "
    )
    assert "s3cret" not in message
    assert "git failed source=Vendor API" in caplog.text
    assert "s3cret" not in caplog.text


def test_upper_case_scheme_is_given_to_git_in_lower_case(
    origin: GitRepo, cache_dir: Path, serve_http: ServeHttp
) -> None:
    origin.git("config", "uploadpack.allowFilter", "true")
    url = serve_http("git", origin.path.parent).replace("http://", "HTTP://")

    assert check_repo_url(f"{url}/origin") == f"{url}/origin"
    revision = make_source(f"{url}/origin", cache_dir).fetch_latest()

    assert revision.commit == origin.git("rev-parse", "HEAD")
    assert revision.text.startswith("# Upcoming changes")


# Partial clone


def test_first_fetch_skips_unrelated_blobs(
    make_repo: MakeRepo, cache_dir: Path
) -> None:
    repo = make_repo()
    repo.git("config", "uploadpack.allowFilter", "true")
    big_blobs = []
    for number in range(25):
        repo.write(PAGE, f"# Upcoming changes\n\nRevision {number}\n")
        repo.write(
            "assets/video.bin", os.urandom(3_000_000 if number == 0 else 150_000)
        )
        repo.commit(f"Revision {number}")
        big_blobs.append(repo.git("rev-parse", "HEAD:assets/video.bin"))
    source = make_source(repo.url, cache_dir)

    revision = source.fetch_latest()

    # --missing=print lists absent objects instead of fetching them.
    listing = cache_git(cache_dir, "rev-list", "--objects", "--missing=print", "--all")
    present = {
        line.split()[0] for line in listing.splitlines() if not line.startswith("?")
    }
    absent = {line[1:] for line in listing.splitlines() if line.startswith("?")}
    assert revision.text == "# Upcoming changes\n\nRevision 24\n"
    assert big_blobs[-1] in absent
    assert not present & set(big_blobs)
    assert folder_size(cache_dir) * 20 < folder_size(repo.path / ".git")


def test_local_path_is_fetched_with_a_filter_too(
    make_repo: MakeRepo, cache_dir: Path
) -> None:
    # The origin does not allow filters itself; the source asks its upload-pack.
    repo = make_repo()
    repo.write(PAGE, "page\n")
    repo.write("assets/video.bin", os.urandom(2_000_000))
    repo.commit("Page and video")
    source = make_source(repo.path, cache_dir)

    source.fetch_latest()
    repo.write(PAGE, "page, again\n")
    repo.write("assets/video.bin", os.urandom(2_000_000))
    repo.commit("Again")
    source.fetch_latest()

    assert folder_size(cache_dir) < 500_000
    listing = cache_git(cache_dir, "rev-list", "--objects", "--missing=print", "--all")
    assert "?" + repo.git("rev-parse", "HEAD:assets/video.bin") in listing


# Moved pages


def test_git_mv_is_followed_by_fetch_latest(
    origin: GitRepo, cache_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    source = make_source(origin.url, cache_dir)
    known = source.fetch_latest()
    origin.write("docs/other.md", "unrelated\n")
    origin.commit("Add another page")
    origin.move(PAGE, "docs/api/upcoming-changes.md")
    moved_at = origin.commit("Move the page")
    origin.write("README.md", "Docs moved\n")
    tip = origin.commit("Reword the readme")

    revision = source.fetch_latest(known_path=known.path, known_commit=known.commit)

    assert revision.path == "docs/api/upcoming-changes.md"
    assert revision.commit == tip
    assert revision.text == known.text
    (record,) = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert record.getMessage() == (
        f"page moved source=Vendor API old={PAGE} "
        f"new=docs/api/upcoming-changes.md commit={moved_at}"
    )


def test_git_mv_is_followed_by_history(origin: GitRepo, cache_dir: Path) -> None:
    first = origin.git("rev-parse", "HEAD")
    origin.move(PAGE, "docs/api/upcoming-changes.md")
    moved_at = origin.commit("Move the page")
    origin.write("docs/api/upcoming-changes.md", "# Upcoming changes\n\nNone.\n")
    last = origin.commit("Empty the page")
    source = make_source(origin.url, cache_dir, path="docs/api/upcoming-changes.md")

    revisions = source.history()

    assert [(r.commit, r.path) for r in revisions] == [
        (first, PAGE),
        (moved_at, "docs/api/upcoming-changes.md"),
        (last, "docs/api/upcoming-changes.md"),
    ]
    assert revisions[0].text == revisions[1].text
    assert revisions[2].text == "# Upcoming changes\n\nNone.\n"
    assert [r.committed_at for r in revisions] == [
        origin.commit_times[commit] for commit in (first, moved_at, last)
    ]


def rewrite_and_move(origin: GitRepo) -> str:
    """Move the page while rewriting all of it, as vendors' doc tools do."""
    origin.git("rm", "--quiet", PAGE)
    origin.write(
        "product/changes/upcoming-changes.md",
        "---\ntitle: Changes\n---\n\n| Date | Change |\n| --- | --- |\n"
        "| 2025-01-01 | Tokens expire after one hour |\n",
    )
    origin.write("product/changes/index.md", "Index\n")
    origin.git("rm", "--quiet", "README.md")
    moved_at = origin.commit("GitBook: 40 pages modified")
    status = origin.git("diff", "-M", "--name-status", "HEAD^", "HEAD")
    assert "\nD\tdocs/upcoming-changes.md" in f"\n{status}"
    return moved_at


def test_move_with_rewrite_is_followed_by_fetch_latest(
    origin: GitRepo, cache_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    source = make_source(origin.url, cache_dir)
    known = source.fetch_latest()
    moved_at = rewrite_and_move(origin)

    revision = source.fetch_latest(known_path=known.path, known_commit=known.commit)

    assert revision.path == "product/changes/upcoming-changes.md"
    assert "Tokens expire" in revision.text
    assert f"commit={moved_at}" in caplog.text


def test_move_with_rewrite_is_followed_by_history(
    origin: GitRepo, cache_dir: Path
) -> None:
    first = origin.git("rev-parse", "HEAD")
    moved_at = rewrite_and_move(origin)
    source = make_source(
        origin.url, cache_dir, path="product/changes/upcoming-changes.md"
    )

    revisions = source.history()

    assert [(r.commit, r.path) for r in revisions] == [
        (first, PAGE),
        (moved_at, "product/changes/upcoming-changes.md"),
    ]


def test_moves_in_two_steps_are_followed(
    origin: GitRepo, cache_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    source = make_source(origin.url, cache_dir)
    known = source.fetch_latest()
    origin.move(PAGE, "docs/v2/upcoming-changes.md")
    origin.commit("First move")
    origin.move("docs/v2/upcoming-changes.md", "docs/v3/changes-ahead.md")
    second_move = origin.commit("Second move")

    revision = source.fetch_latest(known_path=known.path, known_commit=known.commit)

    assert revision.path == "docs/v3/changes-ahead.md"
    assert f"commit={second_move}" in caplog.text


def test_deleted_page_is_reported_missing(origin: GitRepo, cache_dir: Path) -> None:
    source = make_source(origin.url, cache_dir)
    known = source.fetch_latest()
    origin.git("rm", "--quiet", PAGE)
    origin.commit("Drop the page")

    with pytest.raises(SourceError, match=f"{PAGE} is not in branch main at commit"):
        source.fetch_latest(known_path=known.path, known_commit=known.commit)


# History


def test_history_lists_every_change_oldest_first(
    origin: GitRepo, cache_dir: Path
) -> None:
    commits = [origin.git("rev-parse", "HEAD")]
    for number in range(3):
        origin.write(PAGE, f"revision {number}\n")
        commits.append(origin.commit(f"Revision {number}"))
        origin.write("README.md", f"readme {number}\n")
        origin.commit(f"Readme {number}")
    source = make_source(origin.url, cache_dir)
    source.fetch_latest()

    revisions = source.history()

    assert [r.commit for r in revisions] == commits
    assert [r.text for r in revisions[1:]] == [f"revision {n}\n" for n in range(3)]
    assert [r.committed_at for r in revisions] == [
        origin.commit_times[c] for c in commits
    ]


def test_history_follows_first_parent_of_merges(
    origin: GitRepo, cache_dir: Path
) -> None:
    first = origin.git("rev-parse", "HEAD")
    origin.git("checkout", "--quiet", "-b", "draft")
    origin.write(PAGE, "drafted\n")
    origin.commit("Draft on a side branch")
    origin.git("checkout", "--quiet", "main")
    origin.write("README.md", "meanwhile\n")
    origin.commit("Meanwhile on main")
    merge = origin.merge("draft")

    revisions = make_source(origin.url, cache_dir).history()

    assert [r.commit for r in revisions] == [first, merge]
    assert revisions[-1].text == "drafted\n"


# The vendor history bundle


@pytest.fixture
def bundle() -> Path:
    if not BUNDLE.is_file():
        pytest.skip(f"vendor history bundle not found; expected at {BUNDLE}")
    return BUNDLE


@pytest.mark.bundle
def test_bundle_history_has_every_revision_across_the_move(
    bundle: Path, cache_dir: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    source = make_source(
        bundle, cache_dir, path="product-updates/upcoming-api-changes.md", branch=None
    )

    revisions = source.history()

    assert len(revisions) == 31
    assert revisions[0].commit == "69c3d1bf0ae8bd45ea5e926f23bb1e2bcaaaad5a"
    assert revisions[0].path == "upcoming-api-changes.md"
    assert revisions[0].committed_at == datetime(2019, 9, 5, 14, 29, 38, tzinfo=UTC)
    moves = [
        (before.path, after.commit, after.path)
        for before, after in itertools.pairwise(revisions)
        if before.path != after.path
    ]
    assert moves == [
        (
            "upcoming-api-changes.md",
            "1b058d11d912ae66cb08843fa494b6b4fa5f7419",
            "product-updates/upcoming-api-changes.md",
        )
    ]
    assert capfd.readouterr().err == ""


@pytest.mark.bundle
def test_bundle_move_is_followed_from_the_first_revision(
    bundle: Path, cache_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    source = make_source(
        bundle, cache_dir, path="upcoming-api-changes.md", branch="master"
    )

    revision = source.fetch_latest(
        known_path="upcoming-api-changes.md",
        known_commit="69c3d1bf0ae8bd45ea5e926f23bb1e2bcaaaad5a",
    )

    assert revision.path == "product-updates/upcoming-api-changes.md"
    assert revision.commit == "3b6ab593eb44c832cd7f7860bfa1f354f7baee94"
    assert "commit=1b058d11d912ae66cb08843fa494b6b4fa5f7419" in caplog.text


def test_source_kinds_lists_git() -> None:
    assert SOURCE_KINDS["git"] is GitSource
    assert GitSource.__doc__ is not None
    assert GitSource.__doc__.splitlines()[0] == "Pages kept in a git repository."
