"""Real git repositories in a temporary folder, built with the git CLI."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

# Commits are dated from here on, one hour apart, so tests can check times.
FIRST_COMMIT_AT = datetime(2024, 3, 1, 9, 0, tzinfo=UTC)
PARIS_SUMMER = timezone(timedelta(hours=2))


class GitRepo:
    """A repository with a work tree that tests write to and commit."""

    def __init__(self, path: Path, branch: str) -> None:
        self.path = path
        self.commit_times: dict[str, datetime] = {}
        self._clock = FIRST_COMMIT_AT
        path.mkdir(parents=True)
        self.git("init", "--quiet", "--initial-branch", branch)

    @property
    def url(self) -> str:
        return self.path.as_uri()

    def git(self, *args: str) -> str:
        """Run git in the work tree; commits get the repository's clock."""
        # Author time lies a day before commit time, which sources must read, and
        # both carry a zone other than UTC.
        committed = self._clock.astimezone(PARIS_SUMMER).isoformat()
        authored = (
            (self._clock - timedelta(days=1)).astimezone(PARIS_SUMMER).isoformat()
        )
        env = {
            **os.environ,
            "GIT_AUTHOR_NAME": "Docs Writer",
            "GIT_AUTHOR_EMAIL": "docs@example.com",
            "GIT_COMMITTER_NAME": "Docs Bot",
            "GIT_COMMITTER_EMAIL": "bot@example.com",
            "GIT_AUTHOR_DATE": authored,
            "GIT_COMMITTER_DATE": committed,
        }
        result = subprocess.run(
            ["git", *args], cwd=self.path, env=env, capture_output=True, check=True
        )
        return result.stdout.decode().strip()

    def write(self, name: str, content: str | bytes) -> None:
        file = self.path / name
        file.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, str):
            file.write_text(content, encoding="utf-8")
        else:
            file.write_bytes(content)

    def move(self, old: str, new: str) -> None:
        """Move a file with ``git mv``, which git records as a rename."""
        (self.path / new).parent.mkdir(parents=True, exist_ok=True)
        self.git("mv", old, new)

    def commit(self, message: str) -> str:
        """Commit everything in the work tree; return the new commit id."""
        self._clock += timedelta(hours=1)
        self.git("add", "--all")
        self.git("commit", "--quiet", "--message", message)
        return self._record_head()

    def merge(self, branch: str) -> str:
        """Merge ``branch`` with a merge commit; return its id."""
        self._clock += timedelta(hours=1)
        self.git("merge", "--quiet", "--no-ff", "--no-edit", branch)
        return self._record_head()

    def _record_head(self) -> str:
        commit = self.git("rev-parse", "HEAD")
        self.commit_times[commit] = self._clock
        return commit


@pytest.fixture(autouse=True)
def isolated_git_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep the user's and the system's git settings out of the tests."""
    global_config = tmp_path / "gitconfig"
    global_config.touch()
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(global_config))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")


@pytest.fixture
def make_repo(tmp_path: Path) -> Callable[..., GitRepo]:
    """Return a factory of repositories under ``tmp_path``."""

    def make(name: str = "origin", branch: str = "main") -> GitRepo:
        return GitRepo(tmp_path / name, branch)

    return make


@pytest.fixture
def cache_dir(tmp_path: Path) -> Path:
    return tmp_path / "cache"
