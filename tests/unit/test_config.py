"""Configuration: the documented YAML shape loads, env overrides apply, every mistake names its field."""

from __future__ import annotations

from pathlib import Path

import pytest

from qbittorrent_monitor.config import EXAMPLE, ConfigError, load_config, parse_duration

FULL = """
monitor: {check_interval: 300, dry_run: false, log_level: INFO, data_dir: /config}
health: {bind: 0.0.0.0, port: 8080}
qbittorrent: [{name: qbittorrent, url: "http://127.0.0.1:8080", username: admin, password: adminadmin}]
sonarr: [{name: sonarr, url: "http://127.0.0.1:8989", api_key: "abc123abc123"}]
radarr: [{name: radarr, url: "http://127.0.0.1:7878", api_key: "def456def456"}]
protection: {tags: [keep]}
error_patterns:
  connection_errors: ["Connection timed out", "No such host is known", "Name resolution failed"]
  tracker_errors: ["Unregistered torrent", "Torrent not registered with this tracker", "Announce failed"]
  file_errors: ["No space left on device", "Permission denied", "Disk full"]
  ratio_errors: ["Ratio limit reached", "Upload limit"]
  auth_errors: ["Unauthorized", "Invalid passkey"]
"""


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "config.yaml"
    p.write_text(text)
    return p


def test_the_documented_shape_loads(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, FULL), env={})
    assert cfg.monitor.check_interval == 300
    assert cfg.qbittorrent[0].password.get_secret_value() == "adminadmin"
    assert [a.name for _, a in cfg.arr_instances()] == ["sonarr", "radarr"]
    assert cfg.error_patterns.auth_errors == ["Unauthorized", "Invalid passkey"]
    # The user's lists add to the defaults: the old monitor's short list keeps the whole unregistered family.
    tracker = cfg.error_patterns.effective("tracker_errors")
    assert {"trumped", "torrent not found", "infohash not found", "Announce failed"} <= set(tracker)
    assert len(tracker) == len(set(tracker))
    assert "adminadmin" not in repr(cfg) and "abc123abc123" not in repr(cfg)  # secrets never printed


def test_several_instances_each_get_a_name(tmp_path: Path) -> None:
    text = FULL.replace(
        'sonarr: [{name: sonarr, url: "http://127.0.0.1:8989", api_key: "abc123abc123"}]',
        'sonarr: [{url: "http://a:8989", api_key: "k1k1k1"}, {url: "http://b:8989", api_key: "k2k2k2"}]',
    )
    cfg = load_config(write(tmp_path, text), env={})
    assert [a.name for a in cfg.sonarr] == ["sonarr", "sonarr2"]


def test_environment_overrides(tmp_path: Path) -> None:
    env = {
        "CHECK_INTERVAL": "60",
        "LOG_LEVEL": "debug",
        "DRY_RUN": "true",
        "DATA_DIR": str(tmp_path / "data"),
        "HEALTH_PORT": "9090",
        "QBITTORRENT_URL": "http://qbt:8080",
        "QBITTORRENT_USERNAME": "me",
        "QBITTORRENT_PASSWORD": "pw-env",
        "SONARR_URL": "http://sonarr:8989/",
        "SONARR_API_KEY": "envkey",
        "RADARR_URL": "http://radarr:7878",
        "RADARR_API_KEY": "envkey2",
    }
    cfg = load_config(write(tmp_path, FULL), env=env)
    assert cfg.monitor.check_interval == 60 and cfg.monitor.log_level == "DEBUG" and cfg.monitor.dry_run
    assert cfg.monitor.data_dir == tmp_path / "data" and cfg.health.port == 9090
    assert cfg.qbittorrent[0].url == "http://qbt:8080" and cfg.qbittorrent[0].username == "me"
    assert cfg.sonarr[0].url == "http://sonarr:8989" and cfg.sonarr[0].api_key.get_secret_value() == "envkey"
    assert cfg.radarr[0].api_key.get_secret_value() == "envkey2"


def test_environment_alone_is_enough(tmp_path: Path) -> None:
    cfg = load_config(
        tmp_path / "absent.yaml",
        env={"QBITTORRENT_URL": "http://q:8080", "SONARR_URL": "http://s:1", "SONARR_API_KEY": "kkkk"},
    )
    assert cfg.qbittorrent[0].url == "http://q:8080" and cfg.sonarr[0].name == "sonarr"


def test_the_shipped_example_is_valid(tmp_path: Path) -> None:
    cfg = load_config(EXAMPLE, env={"QBITTORRENT_URL": "http://q:8080"})
    assert cfg.protection.tags == ["keep"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # missing field
        (FULL.replace('url: "http://127.0.0.1:8989", ', ""), "sonarr[0].url: is required but missing"),
        (FULL.replace(', api_key: "def456def456"', ""), "radarr[0].api_key: is required but missing"),
        # wrong type
        (
            FULL.replace("check_interval: 300", "check_interval: soon"),
            "monitor.check_interval: 'soon' is not a duration",
        ),
        (FULL.replace("port: 8080", "port: eighty"), "health.port: Input should be a valid integer"),
        (FULL.replace("dry_run: false", "dry_run: perhaps"), "monitor.dry_run: Input should be a valid boolean"),
        (
            FULL.replace('url: "http://127.0.0.1:8080"', 'url: "127.0.0.1:8080"'),
            "qbittorrent[0].url: '127.0.0.1:8080' is not",
        ),
        # unknown key
        (FULL.replace("check_interval: 300", "check_intervall: 300"), "monitor.check_intervall: unknown key"),
        (FULL + "extra_section: {}\n", "extra_section: unknown key"),
        # the old monitor's silent failure: a grouped dict where a list belongs
        (
            FULL.replace('auth_errors: ["Unauthorized", "Invalid passkey"]', "auth_errors: {a: [x]}"),
            "error_patterns.auth_errors: must be a list of non-empty texts",
        ),
        # two instances with the same name
        (FULL.replace("name: radarr", "name: sonarr"), "the instance name 'sonarr' is used twice"),
        (FULL.replace('api_key: "abc123abc123"', 'api_key: ""'), "sonarr[0].api_key: is empty"),
    ],
)
def test_each_mistake_names_the_field(tmp_path: Path, text: str, expected: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_config(write(tmp_path, text), env={})
    assert expected in str(err.value)


def test_an_api_key_with_auth_basic_is_refused_naming_both_and_the_fix(tmp_path: Path) -> None:
    """Both send an Authorization header: Basic silently replaced the key. A user who wrote both must choose."""
    text = FULL.replace("password: adminadmin", 'password: adminadmin, api_key: "qbt_abc", auth: basic')
    with pytest.raises(ConfigError) as err:
        load_config(write(tmp_path, text), env={})
    assert "qbittorrent[0]: api_key and `auth: basic` are two ways to log in" in str(err.value)
    assert "remove api_key" in str(err.value) and "qbt_abc" not in str(err.value)


def test_a_rejected_secret_is_never_echoed(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        load_config(write(tmp_path, FULL.replace("password: adminadmin", "password: 98765432")), env={})
    assert "qbittorrent[0].password: is not text" in str(err.value) and 'password: "20242024"' in str(err.value)
    assert "98765432" not in str(err.value)


def test_credentials_in_a_url_are_refused(tmp_path: Path) -> None:
    text = FULL.replace('url: "http://127.0.0.1:8989"', 'url: "http://me:s3cret@127.0.0.1:8989"')
    with pytest.raises(ConfigError) as err:
        load_config(write(tmp_path, text), env={})
    assert "sonarr[0].url: must not contain credentials" in str(err.value) and "s3cret" not in str(err.value)


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("S3cretPassw0rd!", "it does not start with http:// or https://"),  # the password, in the URL's variable
        ("0123456789abcdef0123456789abcdef", "it does not start with http:// or https://"),  # an API key
        ("ftp://qbittorrent:8080", "its scheme is not http or https"),
        ("http:///api", "no host follows http(s)://"),
    ],
)
def test_a_url_that_is_not_one_is_named_by_its_variable_and_never_echoed(tmp_path: Path, value: str, why: str) -> None:
    """The error says where the value came from and what is wrong with it, never the value: a secret pasted into the
    wrong variable would otherwise be printed to the console and the container's log."""
    with pytest.raises(ConfigError) as err:
        load_config(write(tmp_path, FULL), env={"QBITTORRENT_URL": value})
    message = str(err.value)
    assert "qbittorrent[0].url (from the environment variable QBITTORRENT_URL)" in message, message
    assert why in message and "http://qbittorrent:8080" in message, message
    assert value not in message.replace("http://qbittorrent:8080", ""), message


def test_an_address_without_its_scheme_is_shown_with_the_fix() -> None:
    """The usual slip, host:port without http://, is no secret: it is shown, with the URL it should be."""
    with pytest.raises(ConfigError) as err:
        load_config(None, env={"QBITTORRENT_URL": "qbittorrent:8080"})
    assert "'qbittorrent:8080' is not an http(s) URL: write it like http://qbittorrent:8080" in str(err.value)


def test_no_qbittorrent_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="qbittorrent: no instance configured"):
        load_config(write(tmp_path, "monitor: {check_interval: 60}\n"), env={})


def test_invalid_yaml_and_non_mapping(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(write(tmp_path, "monitor: [unclosed\n"), env={})
    with pytest.raises(ConfigError, match="top level must be a mapping"):
        load_config(write(tmp_path, "- a\n- b\n"), env={})


@pytest.mark.parametrize(("value", "seconds"), [(90, 90), ("90", 90), ("15m", 900), ("6h", 21600), ("1.5d", 129600)])
def test_durations(value: object, seconds: float) -> None:
    assert parse_duration(value) == seconds


@pytest.mark.parametrize("value", ["soon", "-5", True, None, "5y"])
def test_bad_durations(value: object) -> None:
    with pytest.raises(ValueError):
        parse_duration(value)


def test_a_policy_entry_changes_only_the_keys_it_names(tmp_path: Path) -> None:
    cfg = load_config(
        write(tmp_path, FULL + "policy: {tracker_errors: {after: 10m}, auth_errors: {search: true}}\n"), env={}
    )
    tracker = cfg.policy.tracker_errors
    assert (tracker.after, tracker.remove, tracker.blocklist, tracker.search) == (600, True, True, True)
    auth = cfg.policy.auth_errors
    assert (auth.remove, auth.blocklist, auth.search) == (False, True, True)
    assert cfg.policy.connection_errors.after == 6 * 3600  # untouched entries keep every default
    with pytest.raises(ConfigError, match=r"policy.tracker_errors.remve: unknown key"):
        load_config(write(tmp_path, FULL + "policy: {tracker_errors: {remve: false}}\n"), env={})


def test_every_arr_app_has_its_section_and_env_overrides_for_its_first_instance(tmp_path: Path) -> None:
    text = FULL + (
        'lidarr: [{url: "https://music.example/lidarr", api_key: "l1"}, {url: "http://lidarr2:8686", api_key: "l2"}]\n'
        'whisparr: [{url: "http://whisparr:6969", api_key: "w1", qbittorrent: qbittorrent}]\n'
    )
    env = {"READARR_URL": "http://readarr:8787", "READARR_API_KEY": "r1", "LIDARR_API_KEY": "from-env"}
    cfg = load_config(write(tmp_path, text), env=env)
    assert [(app, a.name) for app, a in cfg.arr_instances()] == [
        ("sonarr", "sonarr"),
        ("radarr", "radarr"),
        ("lidarr", "lidarr"),
        ("lidarr", "lidarr2"),
        ("readarr", "readarr"),
        ("whisparr", "whisparr"),
    ]
    assert cfg.lidarr[0].url == "https://music.example/lidarr"  # the URL base stays
    assert cfg.lidarr[0].api_key.get_secret_value() == "from-env" and cfg.lidarr[1].api_key.get_secret_value() == "l2"
    assert cfg.whisparr[0].qbittorrent == "qbittorrent"
    assert "r1" in cfg.secrets() and "w1" in cfg.secrets()


def test_a_qbittorrent_override_must_name_a_configured_instance(tmp_path: Path) -> None:
    text = FULL.replace('api_key: "abc123abc123"}', 'api_key: "abc123abc123", qbittorrent: {"4K": qbt-4k}}')
    with pytest.raises(ConfigError) as err:
        load_config(write(tmp_path, text), env={})
    assert "qbittorrent: 'qbt-4k' is not a configured qBittorrent instance (the names are: qbittorrent)" in str(
        err.value
    )


def test_a_ca_file_must_exist_and_is_kept(tmp_path: Path) -> None:
    missing = FULL.replace('api_key: "def456def456"}', 'api_key: "def456def456", ca_file: /nowhere/ca.pem}')
    with pytest.raises(ConfigError, match=r"radarr\[0\]\.ca_file: '/nowhere/ca.pem' is not a readable file"):
        load_config(write(tmp_path, missing), env={})
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    cfg = load_config(write(tmp_path, missing.replace("/nowhere/ca.pem", str(ca))), env={})
    assert cfg.radarr[0].ca_file == ca
