"""Compare the bytes the tracker's cache holds with ordinary clones.

A "large docs repository" is generated locally with git fast-import: 200
commits over a few hundred markdown files, a dozen multi-MB binary assets
(random bytes, as compressed images are) replaced from time to time, and the
tracked change page edited every few commits. It is served over file://
with ``uploadpack.allowFilter`` set. The sizes are those of each clone's
objects (``git count-objects -v``: loose objects plus packs) and of its whole
folder on disk.
"""

from __future__ import annotations

import argparse
import random
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

from common import (
    GIT_ENV,
    count_objects,
    directory_size,
    generate_page,
    git,
    human,
    init_repo,
    median,
    object_bytes,
    print_machine,
    print_table,
    quiet_tracker_logs,
    spread,
    timed,
)

from tracker.errors import SourceError
from tracker.sources.git import GitSource

PAGE_PATH = "docs/product-updates/changes.md"
COMMITS = 200
MARKDOWN_FILES = 300
ASSETS = 12
WORDS = [
    *["api", "request", "response", "token", "model", "input", "output", "field"],
    *["endpoint", "version", "deprecated", "returns", "error", "status", "code"],
    *["page", "limit", "cursor", "webhook", "event", "the", "a", "of", "to", "and"],
    *["in", "for", "is", "with", "on", "by", "this", "that", "will", "be", "can"],
]


def page_text(rng: random.Random, title: str) -> bytes:
    """A markdown docs page of a few KB of made-up prose."""
    paragraphs = [
        " ".join(rng.choice(WORDS) for _ in range(rng.randint(40, 120))) + "."
        for _ in range(rng.randint(3, 8))
    ]
    return (f"# {title}\n\n" + "\n\n".join(paragraphs) + "\n").encode()


def fast_import_stream(seed: int) -> Iterator[bytes]:
    """The fast-import commands that build the whole history."""
    rng = random.Random(seed)
    docs = [f"docs/section-{i % 15}/page-{i}.md" for i in range(MARKDOWN_FILES)]
    assets = [f"static/img/asset-{i}.png" for i in range(ASSETS)]

    for number in range(1, COMMITS + 1):
        files: dict[str, bytes] = {}
        if number == 1:
            files |= {path: page_text(rng, path) for path in docs}
            files |= {path: rng.randbytes(rng.randint(1, 4) << 20) for path in assets}
            files[PAGE_PATH] = generate_page(40).encode()
        else:
            for path in rng.sample(docs, 5):
                files[path] = page_text(rng, path)
            if number % 10 == 0:
                files[rng.choice(assets)] = rng.randbytes(rng.randint(1, 4) << 20)
            if number % 8 == 0:
                files[PAGE_PATH] = generate_page(40 + number // 8).encode()

        message = f"Docs update {number}\n".encode()
        yield (
            f"commit refs/heads/main\nmark :{number}\n"
            f"committer Docs <docs@example.com> {1_700_000_000 + number * 3600} +0000\n"
            f"data {len(message)}\n"
        ).encode() + message
        if number > 1:
            yield f"from :{number - 1}\n".encode()
        for path, content in files.items():
            yield f"M 100644 inline {path}\ndata {len(content)}\n".encode()
            yield content + b"\n"
        yield b"\n"


def make_upstream(folder: Path) -> Path:
    """Generate the docs repository, packed as a hosting service keeps it."""
    repo = init_repo(folder / "docs.git", bare=True)
    importer = subprocess.Popen(
        ["git", "--git-dir", str(repo), "fast-import", "--quiet"],
        stdin=subprocess.PIPE,
        env=GIT_ENV,
    )
    assert importer.stdin is not None
    for chunk in fast_import_stream(seed=2031):
        importer.stdin.write(chunk)
    importer.stdin.close()
    if importer.wait() != 0:
        raise SystemExit("git fast-import failed")
    git("--git-dir", repo, "repack", "-a", "-d", "-q")
    return repo


def sizes(git_dir: Path) -> tuple[int, int, int]:
    """Objects held, bytes of objects, bytes of the whole folder."""
    counted = count_objects(git_dir)
    objects = int(counted["count"]) + int(counted["in-pack"])
    return objects, object_bytes(git_dir), directory_size(git_dir)


def clone(url: str, target: Path, *options: str) -> None:
    git("clone", "--bare", "--quiet", "--no-tags", *options, url, target)


def tracker_source(cache: Path, url: str) -> GitSource:
    return GitSource(
        name="docs", repo=url, branch="main", path=PAGE_PATH, cache_dir=cache
    )


def cache_folder(cache: Path) -> Path:
    """The one clone GitSource keeps under ``cache``."""
    (folder,) = [path for path in cache.iterdir() if path.is_dir()]
    return folder


def measure_case(
    folder: Path, name: str, action: Callable[[Path], object], repeats: int
) -> tuple[tuple[int, int, int], list[float]]:
    """Clone ``repeats`` times into fresh folders; the sizes and each time."""
    times = []
    for index in range(repeats):
        target = folder / f"run-{index}"
        try:
            seconds, _ = timed(lambda target=target: action(target))
            times.append(seconds)
            git_dir = target if name.startswith("git") else cache_folder(target)
            found = sizes(git_dir)
        finally:
            shutil.rmtree(target, ignore_errors=True)
    return found, times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="runs per case")
    repeats = parser.parse_args().repeats
    quiet_tracker_logs()

    with tempfile.TemporaryDirectory(prefix="bench-fetch-") as temp:
        folder = Path(temp)
        upstream = make_upstream(folder)
        url = upstream.as_uri()
        cases = {
            "tracker first sync (fetch_latest)": lambda target: tracker_source(
                target, url
            ).fetch_latest(),
            "tracker backfill (history)": lambda target: tracker_source(
                target, url
            ).history(),
            "git clone --bare": lambda target: clone(url, target),
            "git clone --bare --filter=blob:none": lambda target: clone(
                url, target, "--filter=blob:none"
            ),
            "git clone --bare --depth 1": lambda target: clone(
                url, target, "--depth", "1"
            ),
        }

        results: dict[str, tuple[tuple[int, int, int], list[float]] | str] = {}
        for name, action in cases.items():
            try:
                results[name] = measure_case(folder, name, action, repeats)
            except SourceError as error:
                results[name] = str(error)
        upstream_sizes = sizes(upstream)

    print(
        f"bytes fetched from a generated docs repository over file://; "
        f"median time of {repeats} runs"
    )
    print_machine()
    print(
        f"upstream: {COMMITS} commits, {MARKDOWN_FILES} markdown files, {ASSETS} "
        f"binary assets, {upstream_sizes[0]:,} objects, "
        f"{human(upstream_sizes[1])} packed"
    )
    first_sync = results["tracker first sync (fetch_latest)"]
    if isinstance(first_sync, str):
        raise SystemExit(f"the tracker's first sync failed: {first_sync}")
    tracker_bytes = first_sync[0][1]
    table = []
    failures = []
    for name, result in results.items():
        if isinstance(result, str):
            table.append((name, "failed", "-", "-", "-", "-", "-"))
            failures.append(f"{name} failed: {result}")
            continue
        (objects, held, on_disk), times = result
        table.append(
            (
                name,
                f"{objects:,}",
                human(held),
                human(on_disk),
                f"{held / tracker_bytes:,.0f}x",
                f"{median(times) * 1000:.0f}",
                spread(times),
            )
        )
    print_table(
        [
            "clone",
            "objects",
            "object bytes",
            "folder",
            "vs tracker sync",
            "median ms",
            "min-max ms",
        ],
        table,
    )
    for failure in failures:
        print(failure)


if __name__ == "__main__":
    main()
