"""The deployment files in deploy/, checked without a Docker engine or a cluster.

YAML must parse, the Kubernetes manifests must validate against the
Kubernetes schema, the systemd unit must pass ``systemd-analyze verify``, the
config files must load with the tracker's own loader, and the files must
agree with each other: ports, paths, service names and secrets.
"""

from __future__ import annotations

import ipaddress
import json
import re
import shutil
import subprocess
import sys
import threading
import tomllib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from sqlalchemy.engine import make_url

from tracker.config import DATABASE_URL_VARIABLE, Config, load_config
from tracker.health import split_address

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
KUBERNETES = DEPLOY / "kubernetes"
SYSTEMD = DEPLOY / "systemd"
UNIT = SYSTEMD / "tracker.service"
# The oldest release the manifests are meant for, and the newest the
# validator knows.
KUBERNETES_VERSIONS = ("1.33", "1.37")
PLACEHOLDER = "change-me"
DATA_DIR = Path("/var/lib/tracker")


def read_yaml(path: Path) -> list[Any]:
    """Every non-empty document of a YAML file."""
    text = path.read_text(encoding="utf-8")
    return [document for document in yaml.safe_load_all(text) if document]


def read_env_file(path: Path) -> dict[str, str]:
    """The ``NAME=value`` lines of an env file; comments are skipped."""
    values = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, value = line.partition("=")
            values[name.strip()] = value.strip()
    return values


def secret_variables(config: Config) -> set[str]:
    """The environment variables the config's channels read their secrets from."""
    names = set()
    for channel in config.channels:
        for field in ("token_env", "url_env", "username_env", "password_env"):
            name = getattr(channel, field, None)
            if name:
                names.add(name)
    return names


def option(command: list[str], name: str) -> str:
    """The value that follows the option ``name`` in ``command``."""
    return command[command.index(name) + 1]


def is_loopback(host: str) -> bool:
    """Whether ``host`` only answers on this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


# Kubernetes


def kustomization() -> dict[str, Any]:
    """The kustomization that ties the manifests together."""
    [document] = read_yaml(KUBERNETES / "kustomization.yaml")
    return dict(document)


def manifests() -> list[Path]:
    """The manifests the kustomization applies."""
    return [KUBERNETES / name for name in kustomization()["resources"]]


def resource(kind: str) -> dict[str, Any]:
    """The one resource of ``kind`` among the manifests."""
    found = [
        document
        for path in manifests()
        for document in read_yaml(path)
        if document["kind"] == kind
    ]
    assert len(found) == 1, f"expected one {kind}, found {len(found)}"
    return dict(found[0])


def pod_spec() -> dict[str, Any]:
    """The Deployment's pod template spec."""
    return dict(resource("Deployment")["spec"]["template"]["spec"])


def container(name: str) -> dict[str, Any]:
    """A container or init container of the Deployment, by name."""
    spec = pod_spec()
    for candidate in spec["containers"] + spec.get("initContainers", []):
        if candidate["name"] == name:
            return dict(candidate)
    raise AssertionError(f"no container named {name!r}")


@pytest.fixture
def configmap_config(tmp_path: Path) -> Config:
    """The config.toml of the ConfigMap, loaded by the tracker."""
    path = tmp_path / "config.toml"
    path.write_text(resource("ConfigMap")["data"]["config.toml"], encoding="utf-8")
    return load_config(path)


# Compose


def compose() -> dict[str, Any]:
    """deploy/compose.yaml, anchors and merge keys resolved."""
    [document] = read_yaml(DEPLOY / "compose.yaml")
    return dict(document)


def mount_target(service: dict[str, Any], source: str) -> str:
    """Where ``service`` mounts the volume or file ``source``."""
    for volume in service["volumes"]:
        host, target = volume.split(":")[:2]
        if host == source:
            return str(target)
    raise AssertionError(f"{source} is not mounted")


# systemd


def unit_settings(path: Path) -> dict[str, list[str]]:
    """A unit file's ``Section.Key`` settings, every value of repeated keys."""
    settings: dict[str, list[str]] = {}
    section = ""
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        key, _, value = line.partition("=")
        settings.setdefault(f"{section}.{key}", []).append(value)
    return settings


def systemd_root(tmp_path: Path, unit: Path) -> Path:
    """A file-system root holding ``unit`` and stand-ins for its programs.

    ``systemd-analyze verify`` checks that every Exec program exists; with
    ``--root`` it looks inside this tree, so the unit is verified as written.
    """
    root = tmp_path / "root"
    units = root / "etc/systemd/system"
    units.mkdir(parents=True)
    shutil.copy(unit, units / "tracker.service")

    # The targets every service is ordered against, from this machine.
    system_units = next(
        path
        for path in (Path("/usr/lib/systemd/system"), Path("/lib/systemd/system"))
        if path.is_dir()
    )
    vendor_units = root / "usr/lib/systemd/system"
    vendor_units.mkdir(parents=True)
    for target in system_units.glob("*.target"):
        shutil.copy(target, vendor_units)

    for key, values in unit_settings(unit).items():
        if key.startswith("Service.Exec"):
            for value in values:
                program = root / value.split()[0].lstrip("-@:+!/")
                program.parent.mkdir(parents=True, exist_ok=True)
                program.write_text("#!/bin/sh\n", encoding="utf-8")
                program.chmod(0o755)
    return root


def systemd_analyze(*args: str) -> subprocess.CompletedProcess[str]:
    """Run systemd-analyze, or skip the test when it is missing or too old."""
    program = shutil.which("systemd-analyze")
    if program is None:
        pytest.skip("systemd-analyze not found; install systemd to check the unit")
    result = subprocess.run(
        [program, *args], capture_output=True, text=True, timeout=60, check=False
    )
    if "unrecognized option" in result.stderr:
        pytest.skip(f"this systemd-analyze is too old: {result.stderr.strip()}")
    return result


def verify_unit(tmp_path: Path, unit: Path) -> subprocess.CompletedProcess[str]:
    """``systemd-analyze verify`` of ``unit`` installed as tracker.service."""
    root = systemd_root(tmp_path, unit)
    return systemd_analyze("verify", f"--root={root}", "tracker.service")


# Dockerfile


def dockerfile_stages() -> list[list[tuple[str, str]]]:
    """The Dockerfile's instructions, one list per build stage.

    Continued lines are joined and comments dropped; each instruction is
    (KEYWORD, arguments).
    """
    text = (DEPLOY / "Dockerfile").read_text(encoding="utf-8")
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    joined = re.sub(r"\\\n\s*", " ", "\n".join(lines))
    stages: list[list[tuple[str, str]]] = [[]]
    for line in joined.splitlines():
        if not line.strip():
            continue
        keyword, _, arguments = line.strip().partition(" ")
        if keyword.upper() == "FROM":
            stages.append([])
        stages[-1].append((keyword.upper(), arguments.strip()))
    return stages


def final_stage(keyword: str) -> list[str]:
    """The arguments of every ``keyword`` instruction of the last stage."""
    return [
        arguments for found, arguments in dockerfile_stages()[-1] if found == keyword
    ]


def healthcheck_command() -> list[str]:
    """The HEALTHCHECK's command, in exec form."""
    [healthcheck] = final_stage("HEALTHCHECK")
    _, _, command = healthcheck.partition("CMD ")
    return list(json.loads(command))


def dockerignore_patterns() -> list[str]:
    """The patterns of the repository's .dockerignore."""
    lines = (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def is_dockerignored(path: str) -> bool:
    """Whether Docker leaves ``path`` (relative to the context) out of a build.

    A pattern matches the path or one of its parent folders; ``**`` spans
    folders, ``*`` and ``?`` stay within one. No pattern here starts with ``!``.
    """
    parts = path.split("/")
    candidates = ["/".join(parts[: index + 1]) for index in range(len(parts))]
    for pattern in dockerignore_patterns():
        expression = re.escape(pattern)
        expression = expression.replace(r"\*\*/", "(?:.*/)?").replace(r"\*\*", ".*")
        expression = expression.replace(r"\*", "[^/]*").replace(r"\?", "[^/]")
        expression = expression.replace(r"\[", "[").replace(r"\]", "]")
        if any(re.fullmatch(expression, candidate) for candidate in candidates):
            return True
    return False


# The tests: YAML and Kubernetes


@pytest.mark.parametrize(
    "path",
    sorted(DEPLOY.rglob("*.yaml")),
    ids=lambda path: str(path.relative_to(DEPLOY)),
)
def test_every_yaml_file_in_deploy_parses_to_mappings(path: Path) -> None:
    documents = read_yaml(path)

    assert documents
    assert all(isinstance(document, dict) for document in documents)


def test_kustomization_applies_every_manifest_in_the_folder() -> None:
    listed = {path.name for path in manifests()}
    present = {path.name for path in KUBERNETES.glob("*.yaml")}

    assert listed == present - {"kustomization.yaml"}


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_kubernetes_manifests_validate_strictly_against_the_schema(
    version: str,
) -> None:
    kinds, errors = [], []
    for path in manifests():
        for document in read_yaml(path):
            try:
                kubernetes_validate.validate(document, version, strict=True)
            except kubernetes_validate.ValidationError as error:
                where = ".".join(str(part) for part in error.path)
                errors.append(f"{path.name}: {where}: {error.message}")
            kinds.append(document["kind"])

    assert errors == []
    assert sorted(kinds) == [
        "ConfigMap",
        "Deployment",
        "Namespace",
        "Secret",
        "Service",
    ]


def test_strict_validation_rejects_a_misspelled_field() -> None:
    deployment = resource("Deployment")
    [daemon] = deployment["spec"]["template"]["spec"]["containers"]
    daemon["readinesProbe"] = daemon.pop("readinessProbe")

    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSIONS[0], strict=True)


def test_deployment_runs_two_replicas_on_the_secrets_postgresql(
    configmap_config: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = resource("Secret")["stringData"][DATABASE_URL_VARIABLE]
    monkeypatch.setenv(DATABASE_URL_VARIABLE, url)

    assert resource("Deployment")["spec"]["replicas"] == 2
    assert configmap_config.database.url is None
    assert make_url(configmap_config.database_url).get_backend_name() == "postgresql"
    for name in ("migrate", "tracker"):
        assert container(name)["envFrom"] == [
            {"secretRef": {"name": resource("Secret")["metadata"]["name"]}}
        ]


def test_deployment_upgrades_the_schema_before_the_daemon_starts() -> None:
    [migrate] = pod_spec()["initContainers"]
    daemon = container("tracker")

    assert migrate["image"] == daemon["image"]
    assert migrate["args"][-2:] == ["db", "upgrade"]
    assert daemon["args"][-1] == "run"
    assert option(daemon["args"], "--config") == option(migrate["args"], "--config")


def test_deployment_mounts_the_configmap_where_the_commands_read_it() -> None:
    daemon = container("tracker")
    config_file = Path(option(daemon["args"], "--config"))
    mounts = {mount["name"]: mount for mount in daemon["volumeMounts"]}
    volumes = {volume["name"]: volume for volume in pod_spec()["volumes"]}
    [config_volume] = [
        name for name, volume in volumes.items() if "configMap" in volume
    ]

    configmap = resource("ConfigMap")["metadata"]["name"]
    assert volumes[config_volume]["configMap"]["name"] == configmap
    assert Path(mounts[config_volume]["mountPath"]) / "config.toml" == config_file
    assert mounts[config_volume]["readOnly"] is True


def test_probes_ask_the_health_paths_on_the_port_the_config_serves(
    configmap_config: Config,
) -> None:
    daemon = container("tracker")
    assert configmap_config.daemon.health_address is not None
    host, port = split_address(configmap_config.daemon.health_address)
    ports = {entry["name"]: entry["containerPort"] for entry in daemon["ports"]}

    assert not is_loopback(host)
    for probe, path in (("livenessProbe", "/livez"), ("readinessProbe", "/healthz")):
        request = daemon[probe]["httpGet"]
        assert request["path"] == path
        assert ports[request["port"]] == port
    service_port = resource("Service")["spec"]["ports"][0]
    assert ports[service_port["targetPort"]] == port


def test_pods_run_unprivileged_with_a_read_only_root() -> None:
    spec = pod_spec()
    pod_security = spec["securityContext"]

    assert pod_security["runAsNonRoot"] is True
    assert pod_security["runAsUser"] != 0
    assert pod_security["seccompProfile"] == {"type": "RuntimeDefault"}
    assert 10 <= spec["terminationGracePeriodSeconds"] <= 60
    for name in ("migrate", "tracker"):
        security = container(name)["securityContext"]
        assert security["readOnlyRootFilesystem"] is True
        assert security["allowPrivilegeEscalation"] is False
        assert security["capabilities"]["drop"] == ["ALL"]
        resources = container(name)["resources"]
        assert {"cpu", "memory"} <= resources["requests"].keys()
        assert "memory" in resources["limits"]


def test_writable_paths_of_the_daemon_are_empty_dirs(
    configmap_config: Config,
) -> None:
    volumes = {volume["name"]: volume for volume in pod_spec()["volumes"]}
    writable = {
        mount["mountPath"]: volumes[mount["name"]]
        for mount in container("tracker")["volumeMounts"]
        if not mount.get("readOnly")
    }

    # git's temporary files go to /tmp, the git caches to data_dir.
    assert set(writable) == {"/tmp", str(configmap_config.data_dir)}
    assert all("emptyDir" in volume for volume in writable.values())


def test_secret_holds_only_placeholders_for_every_variable_the_config_names(
    configmap_config: Config,
) -> None:
    secret = resource("Secret")["stringData"]

    assert secret_variables(configmap_config) | {DATABASE_URL_VARIABLE} == set(secret)
    assert all(PLACEHOLDER in value for value in secret.values())


# The tests: compose


def test_compose_starts_the_daemon_after_a_successful_migration() -> None:
    services = compose()["services"]

    assert set(services) == {"db", "mailpit", "migrate", "tracker"}
    assert services["migrate"]["command"][-2:] == ["db", "upgrade"]
    assert services["tracker"]["command"][-1] == "run"
    assert services["migrate"]["depends_on"]["db"] == {"condition": "service_healthy"}
    assert services["tracker"]["depends_on"]["migrate"] == {
        "condition": "service_completed_successfully"
    }
    assert services["migrate"]["image"] == services["tracker"]["image"]
    assert services["migrate"]["build"]["dockerfile"] == "deploy/Dockerfile"


def test_compose_database_is_healthy_when_pg_isready_says_so() -> None:
    db = compose()["services"]["db"]
    test = db["healthcheck"]["test"]

    assert db["image"].startswith("postgres:")
    assert test[:2] == ["CMD", "pg_isready"]
    assert option(test, "--username") == db["environment"]["POSTGRES_USER"]
    assert option(test, "--dbname") == db["environment"]["POSTGRES_DB"]


def test_compose_database_url_reaches_the_db_service() -> None:
    services = compose()["services"]
    secrets = read_env_file(DEPLOY / "tracker.env.example")
    url = make_url(secrets[DATABASE_URL_VARIABLE])
    database = services["db"]["environment"]

    assert url.get_backend_name() == "postgresql"
    assert url.host in services
    assert services[url.host]["image"].startswith("postgres:")
    assert (url.port, url.username, url.database) == (
        5432,
        database["POSTGRES_USER"],
        database["POSTGRES_DB"],
    )
    assert url.password == secrets["POSTGRES_PASSWORD"]
    assert services["db"]["env_file"] == services["tracker"]["env_file"]
    assert services["tracker"]["env_file"] == "tracker.env"


def test_compose_env_example_holds_only_placeholders() -> None:
    secrets = read_env_file(DEPLOY / "tracker.env.example")

    assert set(secrets) == {"POSTGRES_PASSWORD", DATABASE_URL_VARIABLE}
    assert all(PLACEHOLDER in value for value in secrets.values())


def test_compose_config_mails_the_mail_catcher() -> None:
    config = load_config(DEPLOY / "config.compose.toml")
    services = compose()["services"]
    [channel] = config.channels

    assert channel.type == "email"
    assert services[channel.host]["image"].startswith("axllent/mailpit")
    assert (channel.smtp_port, channel.security) == (1025, "none")
    assert secret_variables(config) == set()


def test_compose_health_address_is_not_loopback_and_is_published() -> None:
    config = load_config(DEPLOY / "config.compose.toml")
    tracker = compose()["services"]["tracker"]
    assert config.daemon.health_address is not None
    host, port = split_address(config.daemon.health_address)

    assert not is_loopback(host)
    assert tracker["ports"] == [f"127.0.0.1:{port}:{port}"]


def test_compose_mounts_the_config_and_data_where_the_daemon_reads_them() -> None:
    config = load_config(DEPLOY / "config.compose.toml")
    tracker = compose()["services"]["tracker"]
    config_file = option(tracker["command"], "--config")

    assert mount_target(tracker, "./config.compose.toml") == config_file
    assert mount_target(tracker, "tracker-data") == str(config.data_dir)
    assert "tracker-data" in compose()["volumes"]
    assert tracker["read_only"] is True
    assert tracker["tmpfs"] == ["/tmp"]


# The tests: config files


@pytest.mark.parametrize(
    "path",
    [DEPLOY / "config.compose.toml", SYSTEMD / "config.toml"],
    ids=lambda path: str(path.relative_to(DEPLOY)),
)
def test_config_files_load_with_the_tracker_loader(path: Path) -> None:
    raw = tomllib.loads(path.read_text(encoding="utf-8"))

    config = load_config(path)

    assert [source.name for source in config.sources] == [
        source["name"] for source in raw["sources"]
    ]
    assert config.data_dir == DATA_DIR
    assert config.database.url is None


def test_configmap_config_loads_with_the_tracker_loader(
    configmap_config: Config,
) -> None:
    assert [source.repo for source in configmap_config.sources] == [
        "https://github.com/Clarifai/docs.git"
    ]
    assert configmap_config.data_dir == DATA_DIR


# The tests: systemd


def test_systemd_unit_passes_verify(tmp_path: Path) -> None:
    result = verify_unit(tmp_path, UNIT)

    assert result.returncode == 0, result.stderr
    # verify only warns about unknown keys and bad values, with exit status 0.
    assert "tracker.service" not in result.stdout + result.stderr


def test_systemd_verify_reports_a_misspelled_key(tmp_path: Path) -> None:
    misspelled = tmp_path / "misspelled.service"
    text = UNIT.read_text(encoding="utf-8")
    misspelled.write_text(text.replace("ProtectHome=", "ProtectHomes="), "utf-8")

    result = verify_unit(tmp_path, misspelled)

    assert "Unknown key 'ProtectHomes'" in result.stderr


def test_systemd_unit_exposure_is_low(tmp_path: Path) -> None:
    root = systemd_root(tmp_path, UNIT)

    result = systemd_analyze(
        "security", "--offline=true", f"--root={root}", "tracker.service"
    )

    found = re.search(
        r"Overall exposure level for tracker\.service: ([\d.]+)", result.stdout
    )
    assert found is not None, result.stderr
    assert float(found.group(1)) <= 2.0


def test_systemd_unit_upgrades_the_schema_then_runs_the_daemon() -> None:
    settings = unit_settings(UNIT)
    [upgrade] = settings["Service.ExecStartPre"]
    [daemon] = settings["Service.ExecStart"]

    assert upgrade.split()[0] == daemon.split()[0]
    assert upgrade.split()[-2:] == ["db", "upgrade"]
    assert daemon.split()[-1] == "run"
    assert settings["Service.Type"] == ["simple"]
    assert settings["Service.Restart"] == ["on-failure"]
    assert settings["Service.KillSignal"] == ["SIGTERM"]
    assert settings["Service.TimeoutStopSec"] == ["30"]


def test_systemd_unit_confines_the_daemon() -> None:
    settings = unit_settings(UNIT)
    enabled = [
        "NoNewPrivileges",
        "ProtectHome",
        "PrivateTmp",
        "PrivateDevices",
        "ProtectKernelTunables",
        "ProtectKernelModules",
        "ProtectKernelLogs",
        "ProtectControlGroups",
        "RestrictNamespaces",
        "LockPersonality",
        "MemoryDenyWriteExecute",
    ]

    for key in enabled:
        assert settings[f"Service.{key}"] == ["yes"], key
    assert settings["Service.ProtectSystem"] == ["strict"]
    assert settings["Service.CapabilityBoundingSet"] == [""]
    assert settings["Service.UMask"] == ["0077"]
    assert settings["Service.SystemCallFilter"][0] == "@system-service"
    assert settings["Service.RestrictAddressFamilies"] == ["AF_UNIX AF_INET AF_INET6"]


def test_systemd_config_and_unit_agree_on_paths_and_secrets() -> None:
    settings = unit_settings(UNIT)
    config = load_config(SYSTEMD / "config.toml")
    secrets = read_env_file(SYSTEMD / "tracker.env.example")
    [state] = settings["Service.StateDirectory"]
    [environment] = settings["Service.Environment"]

    assert config.data_dir == Path("/var/lib") / state
    assert (
        environment
        == f"TRACKER_CONFIG=/etc/{settings['Service.ConfigurationDirectory'][0]}/config.toml"
    )
    assert settings["Service.EnvironmentFile"] == ["-/etc/tracker/tracker.env"]
    assert set(secrets) == secret_variables(config)
    assert all(PLACEHOLDER in value for value in secrets.values())


# The tests: Dockerfile


def test_image_runs_as_a_numeric_non_root_user() -> None:
    [user] = final_stage("USER")

    assert user.split(":")[0].isdigit()
    assert int(user.split(":")[0]) != 0


def test_image_keeps_config_and_state_in_volumes() -> None:
    [volumes] = final_stage("VOLUME")

    assert set(json.loads(volumes)) == {"/etc/tracker", str(DATA_DIR)}


def test_image_starts_the_daemon_with_the_mounted_config() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    [entrypoint] = final_stage("ENTRYPOINT")
    [command] = final_stage("CMD")

    assert json.loads(entrypoint) == ["tracker"]
    assert "tracker" in pyproject["project"]["scripts"]
    assert json.loads(command) == ["--config", "/etc/tracker/config.toml", "run"]
    assert final_stage("STOPSIGNAL") == ["SIGTERM"]


def test_image_installs_git_and_no_build_tools() -> None:
    installs = " ".join(final_stage("RUN"))

    assert re.search(r"apt-get install .*\bgit\b", installs)
    for tool in ("gcc", "build-essential", "make", "pip install"):
        assert tool not in installs
    assert final_stage("COPY") == ["--from=build /opt/tracker /opt/tracker"]


class StatusHandler(BaseHTTPRequestHandler):
    """Answers every GET with the status in the path: ``/503`` gives 503."""

    def do_GET(self) -> None:
        self.send_response(int(self.path.strip("/")))
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        """Keep the test output quiet."""


@pytest.fixture
def status_server() -> Iterator[str]:
    """An HTTP server on loopback; its base URL."""
    server = HTTPServer(("127.0.0.1", 0), StatusHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join()


@pytest.mark.parametrize(("status", "healthy"), [(200, True), (503, False)])
def test_healthcheck_fails_when_healthz_answers_503(
    status_server: str, status: int, healthy: bool
) -> None:
    program, option, code = healthcheck_command()
    healthz = "http://127.0.0.1:9465/healthz"
    assert (program, option) == ("python", "-c")
    assert healthz in code

    result = subprocess.run(
        [sys.executable, "-c", code.replace(healthz, f"{status_server}/{status}")],
        capture_output=True,
        timeout=30,
        check=False,
    )

    assert (result.returncode == 0) is healthy


def test_healthcheck_port_is_the_one_the_configs_serve(
    configmap_config: Config,
) -> None:
    [exposed] = final_stage("EXPOSE")
    compose_config = load_config(DEPLOY / "config.compose.toml")

    for config in (compose_config, configmap_config):
        assert config.daemon.health_address is not None
        assert split_address(config.daemon.health_address)[1] == int(exposed)
    assert f"127.0.0.1:{exposed}/healthz" in healthcheck_command()[2]


def test_dockerignore_keeps_what_the_image_copies_and_drops_local_state() -> None:
    copied = [
        source
        for stage in dockerfile_stages()
        for keyword, arguments in stage
        if keyword == "COPY" and not arguments.startswith("--from=")
        for source in arguments.split()[:-1]
    ]

    assert copied == ["pyproject.toml", "README.md", "tracker", "templates"]
    assert not any(pattern.startswith("!") for pattern in dockerignore_patterns())
    for source in copied:
        assert (ROOT / source).exists()
        assert not is_dockerignored(source)
    assert not is_dockerignored("tracker/store/migrations/env.py")
    for local in (
        ".git",
        ".venv/bin/python",
        "tracker/__pycache__/cli.cpython-312.pyc",
    ):
        assert is_dockerignored(local), local
    assert is_dockerignored("deploy/tracker.env")
    assert not is_dockerignored("deploy/tracker.env.example")
