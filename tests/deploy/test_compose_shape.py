"""deploy/compose.yaml and its instance cannot run here (no Docker in CI): their structure is checked instead, so a
rename in one file that the others depend on — a port, a network, a volume, an image, an environment variable —
fails here rather than on a team's first `docker compose up`. The instance shared with the queue test
(deploy/dagster.yaml) is run for real by test_dagster_queue.py."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
import yaml

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
REPO = DEPLOY.parent


def load(name: str) -> dict:
    return yaml.safe_load((DEPLOY / name).read_text())


@pytest.fixture(scope="module")
def compose() -> dict:
    return load("compose.yaml")


def env_names(config) -> set[str]:
    """Every ``{env: NAME}`` an instance config reads."""
    if isinstance(config, dict):
        if set(config) == {"env"}:
            return {config["env"]}
        return set().union(*(env_names(value) for value in config.values()))
    return set()


def option(command: list[str], flag: str) -> str:
    return command[command.index(flag) + 1]


def test_the_services_of_a_team_deployment_share_one_image_and_the_instance_they_need(compose):
    services = compose["services"]
    assert set(services) == {"postgres", "code", "webserver", "daemon", "guard"}
    image = services["code"]["image"]
    assert services["code"]["environment"]["DAGSTER_CURRENT_IMAGE"] == image  # what each run container starts from
    assert {services[name]["image"] for name in ("webserver", "daemon", "guard")} == {image}
    instance = load("docker/dagster.yaml")
    for name in ("code", "webserver", "daemon"):
        environment = services[name]["environment"]
        assert env_names(instance) <= set(environment), f"{name} lacks a variable the instance reads"
        assert environment["DAGSTER_HOME"] == "/opt/dagster/home"
    assert "/var/run/docker.sock:/var/run/docker.sock" in services["daemon"]["volumes"]  # it starts run containers
    for name in ("code", "webserver", "daemon"):
        if name != "code":
            assert services[name]["depends_on"]["code"]["condition"] == "service_started"
        assert services[name]["depends_on"]["postgres"]["condition"] == "service_healthy"


def test_the_webserver_and_daemon_reach_the_code_server_where_it_listens(compose):
    services = compose["services"]
    location = load("docker/workspace.yaml")["load_from"][0]["grpc_server"]
    code = services["code"]["command"]
    assert code[:3] == ["dagster", "api", "grpc"] and option(code, "-m") == "vectra_pipeline.definitions"
    assert (location["host"], location["port"]) == ("code", int(option(code, "-p")))
    for name in ("webserver", "daemon"):
        assert option(services[name]["command"], "-w") == "/opt/dagster/home/workspace.yaml"


def test_nothing_listens_beyond_this_machine_and_no_secret_is_written(compose):
    for service in compose["services"].values():
        for port in service.get("ports", []):
            assert port.startswith("127.0.0.1:"), f"{port} is published on every interface"
    text = (DEPLOY / "compose.yaml").read_text()
    passwords = re.findall(r"(?:DAGSTER_PG_PASSWORD|POSTGRES_PASSWORD): *(.*)", text)
    assert passwords and all(value.startswith("${DAGSTER_PG_PASSWORD:?") for value in passwords)
    for name in ("dagster.yaml", "docker/dagster.yaml"):
        assert "password:\n        env: DAGSTER_PG_PASSWORD" in (DEPLOY / name).read_text()


def test_browsers_reach_the_webserver_only_through_the_guard(compose):
    services = compose["services"]
    webserver, guard = services["webserver"], services["guard"]["command"]
    assert "ports" not in webserver  # it checks neither Host nor Origin (docs/SECURITY.md)
    assert guard[:2] == ["vectra", "ui"]
    assert option(guard, "--upstream") == f"http://webserver:{option(webserver['command'], '-p')}"
    assert services["guard"]["ports"] == [f"127.0.0.1:{option(guard, '--port')}:{option(guard, '--port')}"]


def test_run_containers_join_the_network_and_volume_compose_creates(compose):
    launcher = load("docker/dagster.yaml")["run_launcher"]
    assert (launcher["module"], launcher["class"]) == ("dagster_docker", "DockerRunLauncher")
    config = launcher["config"]
    assert compose["networks"]["vectra"]["name"] == config["network"]
    volume, mount = config["container_kwargs"]["volumes"][0].split(":")
    assert compose["volumes"]["vectra-data"]["name"] == volume
    assert f"vectra-data:{mount}" in compose["services"]["code"]["volumes"]
    assert compose["services"]["code"]["environment"]["VECTRA_DATA"] == mount
    assert set(config["env_vars"]) <= set(compose["x-dagster-env"])  # passed by name from the daemon's environment


def test_the_docker_instance_is_the_tested_instance_plus_its_launcher():
    from dagster._config import validate_config
    from dagster._core.instance.config import dagster_instance_config_schema

    base, docker = load("dagster.yaml"), load("docker/dagster.yaml")
    assert {key: value for key, value in docker.items() if key != "run_launcher"} == base
    for config in (base, docker):
        result = validate_config(dagster_instance_config_schema(), config)
        assert result.success, [error.message for error in result.errors]
    assert base["storage"]["postgres"]["postgres_db"]["scheme"] == "postgresql+psycopg2"  # psycopg3 is not installed
    coordinator = base["run_coordinator"]
    assert coordinator["class"] == "QueuedRunCoordinator"
    assert coordinator["config"]["tag_concurrency_limits"] == [
        {"key": "dagster/partition", "value": {"applyLimitPerUniqueValue": True}, "limit": 1}
    ]
    assert base["run_monitoring"]["enabled"] is True


def test_the_image_installs_the_tested_pins_and_copies_files_that_exist():
    dockerfile = (DEPLOY / "docker" / "Dockerfile").read_text()
    extras = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    postgres_pin = next(pin for pin in extras["deploy"] if pin.startswith("dagster-postgres=="))
    assert "dagster-docker==" + postgres_pin.split("==")[1] in dockerfile  # one release of the integrations
    assert "-r requirements.lock" in dockerfile
    for line in dockerfile.splitlines():
        if line.startswith("COPY "):
            for source in line.split()[1:-1]:
                assert (REPO / source).exists(), f"the Dockerfile copies {source}, which does not exist"
