"""The deployment files: valid YAML whose keys are the ones ssdv2, Saltbox and Compose read
(../shared/SSDV2-NOTES.md), and whose settings the monitor and its image really understand."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from qbittorrent_monitor.config import ENV_OVERRIDES, DiscoverySettings, HealthSettings
from qbittorrent_monitor.web.headers import is_open

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
# What the monitor reads from its environment: config.py's overrides plus the entrypoint's own variables.
KNOWN_ENV = set(ENV_OVERRIDES) | {"PUID", "PGID", "UMASK", "TZ"}
# What the monitor serves without a login (web/app.py's health routes, /metrics with its own token): a probe behind
# Traefik needs every one of them, and nothing else may bypass the dashboard's auth chain.
NO_LOGIN = ["/health", "/health/live", "/health/ready", "/metrics"]
SSDV2_KEYS = {"pgrole", "intport", "image", "pg_volumes", "pg_env", "specific_docker_info"}
SSDV2_OPTIONAL = {"extra_labels", "traefik_labels_enabled", "docker_deploy_enabled"}


def load(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def image_port() -> str:
    m = re.search(r"^EXPOSE (\d+)$", (ROOT / "Dockerfile").read_text(), re.M)
    assert m
    return m.group(1)


def configs_root() -> str:
    roots = {p.split("/*")[0] for p in DiscoverySettings().config_paths}
    assert len(roots) == 1
    return roots.pop()


def test_ssdv2_vars_file_has_the_keys_ssdv2_reads() -> None:
    path = DEPLOY / "ssdv2" / "qbittorrent-monitor.yml"
    doc = load(path)
    assert SSDV2_KEYS <= set(doc) <= SSDV2_KEYS | SSDV2_OPTIONAL
    assert doc["pgrole"] == path.stem  # ssdv2 requires pgrole == the file name
    assert doc["intport"] == image_port() == str(HealthSettings().port)
    assert doc["image"].startswith("ghcr.io/")
    volumes = doc["pg_volumes"]
    # ssdv2's convention for an app's own folder: <storage>/docker/<user>/<pgrole>/config at /config
    assert "{{ settings.storage }}/docker/{{ lookup('env','USER') }}/{{ pgrole }}/config:/config" in volumes
    assert "/etc/localtime:/etc/localtime:ro" in volumes
    assert "/var/run/docker.sock:/var/run/docker.sock:ro" in volumes
    assert f"{{{{ settings.storage }}}}/docker/{{{{ lookup('env','USER') }}}}:{configs_root()}:ro" in volumes
    env = doc["pg_env"]
    assert env["PUID"] == "{{ lookup('env','MYUID') }}" and env["PGID"] == "{{ lookup('env','MYGID') }}"
    assert {"TZ", "CHECK_INTERVAL", "LOG_LEVEL", "DRY_RUN", "DOCKER_NETWORK"} <= set(env) <= KNOWN_ENV
    assert env["DOCKER_NETWORK"] == DiscoverySettings().network == "traefik_proxy"
    info = doc["specific_docker_info"]
    assert info["mem_limit"] == "128m" and info["cpus"] == 0.25
    assert info["restart_policy"] == "unless-stopped" and "no-new-privileges:true" in info["security_opt"]


def test_ssdv2_labels_leave_health_and_metrics_reachable_and_nothing_else() -> None:
    doc = load(DEPLOY / "ssdv2" / "qbittorrent-monitor.yml")
    labels = doc["extra_labels"]
    routers = {k.split(".")[3] for k in labels if k.startswith("traefik.http.routers.")}
    assert routers == {"qbittorrent-monitor-health-rtr"}  # ssdv2 makes <pgrole>-rtr (the user's auth chain) itself
    prefix = "traefik.http.routers.qbittorrent-monitor-health-rtr."
    rule = labels[prefix + "rule"]
    # The same Host as ssdv2's own router, restricted to exactly the paths the monitor serves without a login.
    assert rule.startswith("Host(`{{ sub[pgrole][pgrole] if sub_enabled else pgrole }}.{{ user.domain }}`) && ")
    assert sorted(re.findall(r"Path\(`([^`]+)`\)", rule)) == NO_LOGIN and "PathPrefix" not in rule
    assert all(is_open(path) for path in NO_LOGIN)  # the monitor's gate lets exactly these through too
    assert labels[prefix + "middlewares"] == "chain-no-auth@file"
    assert labels[prefix + "service"] == f"{doc['pgrole']}-svc"  # the service ssdv2 defines on intport
    assert int(labels[prefix + "priority"]) > 0


def test_saltbox_sandbox_role() -> None:
    role = DEPLOY / "saltbox" / "qbittorrent_monitor"
    defaults = load(role / "defaults" / "main.yml")
    assert all(k.startswith("qbittorrent_monitor_") for k in defaults)
    v = {k.removeprefix("qbittorrent_monitor_role"): val for k, val in defaults.items()}
    assert defaults["qbittorrent_monitor_name"] == "qbittorrent-monitor"
    for key in ("_docker_container", "_docker_image", "_docker_envs", "_docker_volumes", "_docker_networks"):
        assert key in v, key
    assert v["_web_port"] == image_port()
    env = v["_docker_envs_default"]
    assert {"PUID", "PGID", "UMASK", "TZ"} <= set(env) <= KNOWN_ENV
    assert env["DOCKER_NETWORK"] == "saltbox"  # Saltbox's shared network
    assert "/var/run/docker.sock:/var/run/docker.sock:ro" in v["_docker_volumes_default"]
    assert f":{configs_root()}/" in v["_docker_volumes_arr"]
    assert v["_traefik_api_enabled"] is True
    assert sorted(re.findall(r"Path\(`([^`]+)`\)", v["_traefik_api_endpoint"])) == NO_LOGIN
    assert v["_docker_memory"] == "128m" and v["_docker_cpus"] == "0.25"
    tasks = load(role / "tasks" / "main.yml")
    included = [t["ansible.builtin.include_tasks"] for t in tasks]
    assert [p.rsplit("/", 1)[-1] for p in included] == [
        "remove_docker_container.yml",
        "create_directories.yml",
        "create_docker_container.yml",
    ]


def test_compose_puts_the_four_on_one_network_with_read_only_socket_and_arr_configs() -> None:
    doc = load(DEPLOY / "docker-compose.yml")
    services = doc["services"]
    assert set(services) == {"qbittorrent", "sonarr", "radarr", "qbittorrent-monitor"}
    assert all(s["networks"] == ["traefik_proxy"] for s in services.values())
    monitor = services["qbittorrent-monitor"]
    assert "/var/run/docker.sock:/var/run/docker.sock:ro" in monitor["volumes"]
    assert {"./sonarr:/configs/sonarr:ro", "./radarr:/configs/radarr:ro"} <= set(monitor["volumes"])
    assert set(monitor["environment"]) <= KNOWN_ENV
    assert monitor["mem_limit"] == "128m" and monitor["cpus"] == 0.25


def test_the_image_workflow_moves_latest_only_for_a_release_tag() -> None:
    """Users pull `latest`: a pre-release tag (v1.3.0-rc.1) must not move it. metadata-action's own `latest` is off
    and ours is enabled only for a tag without a `-` (every semver pre-release has one)."""
    workflow = load(ROOT / ".github" / "workflows" / "image.yml")
    [meta] = [
        s for s in workflow["jobs"]["image"]["steps"] if str(s.get("uses", "")).startswith("docker/metadata-action")
    ]
    assert meta["with"]["flavor"].split() == ["latest=false"]
    [latest] = [t for t in meta["with"]["tags"].splitlines() if "value=latest" in t]
    assert latest == "type=raw,value=latest,enable=${{ !contains(github.ref_name, '-') }}"


def test_the_deploy_files_pull_the_image_the_workflow_pushes() -> None:
    """The workflow pushes ghcr.io/<owner>/qbittorrent-monitor; compose, ssdv2, Saltbox and the README all name that
    image with the one owner, qbittorrent-monitor (each says a fork's image has its own owner there)."""
    workflow = load(ROOT / ".github" / "workflows" / "image.yml")
    [meta] = [
        s for s in workflow["jobs"]["image"]["steps"] if str(s.get("uses", "")).startswith("docker/metadata-action")
    ]
    pushed = meta["with"]["images"]
    assert pushed == "ghcr.io/${{ github.repository_owner }}/qbittorrent-monitor"
    image = pushed.replace("${{ github.repository_owner }}", "qbittorrent-monitor")
    compose = load(DEPLOY / "docker-compose.yml")["services"]["qbittorrent-monitor"]["image"]
    ssdv2 = load(DEPLOY / "ssdv2" / "qbittorrent-monitor.yml")["image"]
    defaults = load(DEPLOY / "saltbox" / "qbittorrent_monitor" / "defaults" / "main.yml")
    saltbox = defaults["qbittorrent_monitor_role_docker_image"]
    assert compose == ssdv2 == f"{image}:latest"
    assert saltbox == f"{image}:{{{{ qbittorrent_monitor_role_docker_image_tag }}}}"
    assert defaults["qbittorrent_monitor_role_docker_image_tag"] == "latest"
    assert f"`{image}`" in (ROOT / "README.md").read_text()
    files = ("docker-compose.yml", "ssdv2/qbittorrent-monitor.yml", "saltbox/qbittorrent_monitor/defaults/main.yml")
    for path in files:
        assert "ghcr.io/<owner>/qbittorrent-monitor" in (DEPLOY / path).read_text(), path
