"""GitSource against real repositories in a temporary folder; no network."""

from __future__ import annotations

import hashlib
import itertools
import logging
import os
import subprocess
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.sources.conftest import GitRepo
from tracker.errors import ConfigError, SourceError
from tracker.sources import SOURCE_KINDS
from tracker.sources.git import GitSource, check_repo_url

MakeRepo = Callable[..., GitRepo]

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
) -> GitSource:
    return GitSource(
        name="Vendor API",
        repo=str(repo),
        branch=branch,
        path=path,
        cache_dir=cache_dir,
        timeout=timeout,
    )


def cache_git(cache_dir: Path, *args: str) -> str:
    """Run git in the source's cache folder, the only folder under ``cache_dir``."""
    (cache,) = [folder for folder in cache_dir.iterdir() if folder.is_dir()]
    result = subprocess.run(
        ["git", "--git-dir", str(cache), *args], capture_output=True, check=True
    )
    return result.stdout.decode()


def folder_size(folder: Path) -> int:
    return sum(file.stat().st_size for file in folder.rglob("*") if file.is_file())


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
    assert {folder.name for folder in cache_dir.iterdir()} == expected


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
    assert not cache_dir.exists() or not list(cache_dir.iterdir())


def test_unreachable_repository_names_it(tmp_path: Path, cache_dir: Path) -> None:
    missing = tmp_path / "does-not-exist"

    with pytest.raises(SourceError) as raised:
        make_source(missing, cache_dir).fetch_latest()

    message = str(raised.value)
    assert message.startswith(f"cannot reach repository {missing}: ")
    assert message.endswith("check the URL and your network or credentials")
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


def test_errors_and_logs_never_show_the_token(
    tmp_path: Path,
    cache_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # git rewrites the https URL to a missing local folder, so nothing leaves
    # the machine while the source still handles a URL with a token in it.
    monkeypatch.setenv("GIT_CONFIG_COUNT", "1")
    monkeypatch.setenv("GIT_CONFIG_KEY_0", f"url.{tmp_path.as_uri()}/.insteadOf")
    monkeypatch.setenv("GIT_CONFIG_VALUE_0", "https://bot:s3cret@example.invalid/")
    caplog.set_level(logging.DEBUG)
    source = make_source("https://bot:s3cret@example.invalid/docs.git", cache_dir)

    with pytest.raises(SourceError) as raised:
        source.fetch_latest()

    message = str(raised.value)
    assert message.startswith(
        "cannot reach repository https://bot:***@example.invalid/docs.git: "
    )
    assert "s3cret" not in message
    assert "s3cret" not in caplog.text


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
