"""The environment contract.

Every variable Observer reads is a field of :class:`Settings`, named by its alias. The only
place that reads the process environment is :func:`load_settings`; everything else receives
the one ``Settings`` object built at start-up.

Two modes:

* **local** (default): every path defaults under ``OBSERVER_HOME`` (``./var/observer``), the
  source defaults to the simulator unless KIS credentials are configured.
* **kubernetes** (``KUBERNETES_SERVICE_HOST`` is set, or ``OBSERVER_DEPLOYMENT=kubernetes``):
  every path variable and ``OBSERVER_SOURCE`` must be set explicitly; nothing falls back.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import datetime, time
from pathlib import Path
from typing import Any, Literal

from dotenv import dotenv_values
from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from observer.config.exceptions import ConfigError
from observer.config.paths import K8S_PATHS, PATH_VARS

KIS_HOSTS: dict[str, tuple[str, str]] = {
    "real": ("https://openapi.koreainvestment.com:9443", "ws://ops.koreainvestment.com:21000"),
    "paper": ("https://openapivts.koreainvestment.com:29443", "ws://ops.koreainvestment.com:31000"),
}
KIS_MASTER_DEFAULT = "https://new.real.download.dws.co.kr/common/master"
REQUIRED_IN_K8S = (*PATH_VARS, "OBSERVER_SOURCE")
# OBSERVER_* names that are not settings but may legitimately be in the environment.
NON_SETTING_VARS = frozenset({"OBSERVER_TEST_DATABASE_URL", "OBSERVER_ENV_FILE"})
SECRET_VARS = (
    "DB_PASSWORD",
    "KIS_APP_KEY",
    "KIS_APP_SECRET",
    "KIS_HTS_ID",
    "KIS_EXTRA_APP_KEYS",
    "OBSERVER_BACKUP_REPOSITORY",
    "OBSERVER_BACKUP_PASSWORD",
)

Source = Literal["default", "environment", "file", "derived"]


class Settings(BaseSettings):
    """Every setting of the service; field aliases are the environment variable names."""

    model_config = SettingsConfigDict(frozen=True, populate_by_name=True, extra="forbid")

    # deployment
    deployment: Literal["local", "kubernetes"] = Field("local", alias="OBSERVER_DEPLOYMENT")
    standalone: bool = Field(True, alias="OBSERVER_STANDALONE")
    home: Path = Field(Path("var/observer"), alias="OBSERVER_HOME")
    # paths (filled in by load_settings; always absolute once loaded)
    data_dir: Path = Field(Path(), alias="OBSERVER_DATA_DIR")
    log_dir: Path = Field(Path(), alias="OBSERVER_LOG_DIR")
    config_dir: Path = Field(Path(), alias="OBSERVER_CONFIG_DIR")
    snapshot_dir: Path = Field(Path(), alias="OBSERVER_SNAPSHOT_DIR")
    system_log_dir: Path = Field(Path(), alias="OBSERVER_SYSTEM_LOG_DIR")
    maintenance_log_dir: Path = Field(Path(), alias="OBSERVER_MAINTENANCE_LOG_DIR")
    token_cache_dir: Path = Field(Path(), alias="KIS_TOKEN_CACHE_DIR")
    # logging and HTTP
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = Field(
        "INFO", alias="LOG_LEVEL"
    )
    log_format: Literal["json", "text"] = Field("text", alias="LOG_FORMAT")
    service_port: int = Field(8000, ge=0, le=65535, alias="SERVICE_PORT")
    http_host: str = Field("127.0.0.1", alias="OBSERVER_HTTP_HOST")
    # database
    db_host: str = Field("127.0.0.1", alias="DB_HOST")
    db_port: int = Field(5432, ge=1, le=65535, alias="DB_PORT")
    db_name: str = Field("observer", alias="DB_NAME")
    db_user: str = Field("postgres", alias="DB_USER")
    db_password: SecretStr = Field(SecretStr(""), alias="DB_PASSWORD")
    loader_enabled: bool = Field(True, alias="OBSERVER_LOADER_ENABLED")
    loader_batch_rows: int = Field(20_000, ge=1, alias="OBSERVER_LOADER_BATCH_ROWS")
    loader_batch_ms: int = Field(200, ge=1, alias="OBSERVER_LOADER_BATCH_MS")
    # A loader statement or COPY taking longer than this means PostgreSQL is unreachable.
    db_timeout_seconds: float = Field(10.0, gt=0, le=3600, alias="OBSERVER_DB_TIMEOUT_SECONDS")
    # source and KIS
    source: Literal["kis", "sim", "replay"] = Field("sim", alias="OBSERVER_SOURCE")
    replay_path: Path | None = Field(None, alias="OBSERVER_REPLAY_PATH")
    kis_env: Literal["real", "paper"] = Field("real", alias="KIS_ENV")
    kis_app_key: SecretStr | None = Field(None, alias="KIS_APP_KEY")
    kis_app_secret: SecretStr | None = Field(None, alias="KIS_APP_SECRET")
    kis_hts_id: SecretStr | None = Field(None, alias="KIS_HTS_ID")
    kis_extra_app_keys: SecretStr | None = Field(None, alias="KIS_EXTRA_APP_KEYS")
    kis_base_url: str = Field("", alias="KIS_BASE_URL")
    kis_ws_url: str = Field("", alias="KIS_WS_URL")
    kis_master_url: str = Field("", alias="KIS_MASTER_URL")
    kis_rate_limit: float = Field(0.0, ge=0, allow_inf_nan=False, alias="KIS_RATE_LIMIT_PER_SECOND")
    kis_timeout_seconds: float = Field(10.0, gt=0, alias="KIS_REQUEST_TIMEOUT_SECONDS")
    ws_silence_seconds: float = Field(60.0, gt=0, alias="OBSERVER_WS_SILENCE_SECONDS")
    gap_repair: bool = Field(True, alias="OBSERVER_GAP_REPAIR")  # fetch missed trades back
    # archive
    fsync_ms: int = Field(50, ge=1, le=10_000, alias="OBSERVER_FSYNC_MS")
    fsync_batch: int = Field(4096, ge=1, alias="OBSERVER_FSYNC_BATCH")
    queue_max: int = Field(100_000, ge=16, alias="OBSERVER_QUEUE_MAX")
    # clock
    clock_start: datetime | None = Field(None, alias="OBSERVER_CLOCK_START")
    clock_speed: float = Field(1.0, gt=0, allow_inf_nan=False, alias="OBSERVER_CLOCK_SPEED")
    # simulator
    sim_seed: int = Field(1, alias="OBSERVER_SIM_SEED")
    sim_issues: int = Field(2400, ge=10, alias="OBSERVER_SIM_ISSUES")
    sim_activity: float = Field(1.0, ge=0, alias="OBSERVER_SIM_ACTIVITY")
    sim_extra_field: bool = Field(False, alias="OBSERVER_SIM_EXTRA_FIELD")
    sim_rate_limit: float = Field(20.0, gt=0, alias="OBSERVER_SIM_RATE_LIMIT")
    sim_gateway_error_rate: float = Field(0.0, ge=0, le=1, alias="OBSERVER_SIM_GATEWAY_ERROR_RATE")
    sim_drop_ws_seconds: float = Field(0.0, ge=0, alias="OBSERVER_SIM_DROP_WS_SECONDS")
    sim_garbage_rate: float = Field(0.0, ge=0, le=1, alias="OBSERVER_SIM_GARBAGE_RATE")
    sim_slow_ms: int = Field(0, ge=0, alias="OBSERVER_SIM_SLOW_MS")
    sim_pingpong_seconds: float = Field(10.0, gt=0, alias="OBSERVER_SIM_PINGPONG_SECONDS")
    # market
    session_schedule: str = Field(
        "pre_open=08:30-09:00,regular=09:00-15:20,closing_auction=15:20-15:30,"
        "closing_price=15:40-16:00,after_hours=16:00-18:00",
        alias="OBSERVER_SESSION_SCHEDULE",
    )
    scalp_sessions: str = Field("regular,closing_auction", alias="OBSERVER_SCALP_SESSIONS")
    swing_interval_seconds: int = Field(300, ge=1, alias="OBSERVER_SWING_INTERVAL_SECONDS")
    scalp_max_slots: int = Field(41, ge=0, le=41, alias="OBSERVER_SCALP_MAX_SLOTS")
    scalp_always_on: str = Field("", alias="OBSERVER_SCALP_ALWAYS_ON")
    scalp_min_dwell_seconds: int = Field(600, ge=0, alias="OBSERVER_SCALP_MIN_DWELL_SECONDS")
    min_price: int = Field(4000, ge=0, alias="OBSERVER_MIN_PRICE")
    trade_time_tolerance_seconds: int = Field(
        60, ge=0, le=3600, alias="OBSERVER_TRADE_TIME_TOLERANCE_SECONDS"
    )
    max_recv_skew_seconds: float = Field(10.0, gt=0, alias="OBSERVER_MAX_RECV_SKEW_SECONDS")
    universe_build_time: time = Field(time(8, 0), alias="OBSERVER_UNIVERSE_BUILD_TIME")
    universe_include_etf: bool = Field(False, alias="OBSERVER_UNIVERSE_INCLUDE_ETF")
    universe_include_etn: bool = Field(False, alias="OBSERVER_UNIVERSE_INCLUDE_ETN")
    universe_include_spac: bool = Field(False, alias="OBSERVER_UNIVERSE_INCLUDE_SPAC")
    universe_include_preferred: bool = Field(False, alias="OBSERVER_UNIVERSE_INCLUDE_PREFERRED")
    # operations
    maintenance_time: time = Field(time(18, 30), alias="OBSERVER_MAINTENANCE_TIME")
    retention_plain_hours: int = Field(48, ge=1, alias="OBSERVER_RETENTION_PLAIN_HOURS")
    retention_archive_days: int = Field(365, ge=1, alias="OBSERVER_RETENTION_ARCHIVE_DAYS")
    retention_quarantine_days: int = Field(30, ge=1, alias="OBSERVER_RETENTION_QUARANTINE_DAYS")
    retention_snapshot_days: int = Field(14, ge=1, alias="OBSERVER_RETENTION_SNAPSHOT_DAYS")
    retention_log_days: int = Field(30, ge=1, alias="OBSERVER_RETENTION_LOG_DAYS")
    retention_backup_days: int = Field(14, ge=1, alias="OBSERVER_RETENTION_BACKUP_DAYS")
    retention_db_days: int = Field(400, ge=1, alias="OBSERVER_RETENTION_DB_DAYS")
    disk_warn_free_mb: int = Field(2048, ge=0, alias="OBSERVER_DISK_WARN_FREE_MB")
    disk_min_free_mb: int = Field(256, ge=0, alias="OBSERVER_DISK_MIN_FREE_MB")
    # backups (restic): the repository may carry credentials (rest:https://user:pass@...)
    backup_repository: SecretStr | None = Field(None, alias="OBSERVER_BACKUP_REPOSITORY")
    backup_password: SecretStr | None = Field(None, alias="OBSERVER_BACKUP_PASSWORD")
    backup_check_subset: str = Field(
        "5%",
        pattern=r"^([0-9]{1,3}(\.[0-9]+)?%|[0-9]+/[0-9]+)$",
        alias="OBSERVER_BACKUP_CHECK_SUBSET",
    )
    restic_binary: str = Field("restic", alias="OBSERVER_RESTIC_BINARY")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Only explicit values: load_settings gathers them; nothing is read behind its back."""
        return (init_settings,)

    @field_validator("clock_start", mode="after")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            from observer.clock import KST

            return value.replace(tzinfo=KST)
        return value

    # -- derived values -------------------------------------------------------------------
    @property
    def in_kubernetes(self) -> bool:
        return self.deployment == "kubernetes"

    @property
    def assets_dir(self) -> Path:
        """Where the JSONL archive lives."""
        return self.data_dir / "assets"

    @property
    def quarantine_dir(self) -> Path:
        return self.data_dir / "quarantine"

    @property
    def backup_dir(self) -> Path:
        return self.data_dir / "backups"

    @property
    def has_kis_credentials(self) -> bool:
        return bool(self.kis_app_key and self.kis_app_secret)

    @property
    def rate_limit_per_second(self) -> float:
        """The per-app-key request rate: explicit, else 19/s on real accounts and 2/s on paper."""
        if self.kis_rate_limit > 0:
            return self.kis_rate_limit
        return 19.0 if self.kis_env == "real" else 2.0

    @property
    def db_dsn(self) -> str:
        """A libpq-style DSN, password included: never log it (use db_dsn_redacted)."""
        from urllib.parse import quote

        password = self.db_password.get_secret_value()
        auth = quote(self.db_user, safe="")
        if password:
            auth += ":" + quote(password, safe="")
        return f"postgresql://{auth}@{self.db_host}:{self.db_port}/{quote(self.db_name, safe='')}"

    @property
    def db_dsn_redacted(self) -> str:
        return f"postgresql://{self.db_user}:***@{self.db_host}:{self.db_port}/{self.db_name}"

    def secret_values(self) -> list[str]:
        """Every configured secret value, for the log redactor."""
        values = []
        for field in (
            "db_password",
            "kis_app_key",
            "kis_app_secret",
            "kis_hts_id",
            "backup_password",
        ):
            secret = getattr(self, field)
            if secret is not None and secret.get_secret_value():
                values.append(secret.get_secret_value())
        if self.kis_extra_app_keys is not None:
            for pair in self.kis_extra_app_keys.get_secret_value().split(","):
                values.extend(part for part in pair.split(":") if part)
        return values

    def app_credentials(self) -> list[tuple[str, str]]:
        """All (app key, app secret) pairs: the main one first, then KIS_EXTRA_APP_KEYS."""
        pairs: list[tuple[str, str]] = []
        if self.kis_app_key is not None and self.kis_app_secret is not None:
            pairs.append(
                (self.kis_app_key.get_secret_value(), self.kis_app_secret.get_secret_value())
            )
        if self.kis_extra_app_keys is not None:
            for pair in self.kis_extra_app_keys.get_secret_value().split(","):
                key, _, secret = pair.strip().partition(":")
                if key and secret:
                    pairs.append((key, secret))
        return pairs


ALIASES: dict[str, str] = {
    str(field.alias): name for name, field in Settings.model_fields.items() if field.alias
}


class LoadedSettings:
    """Settings plus where each value came from (for ``observer config``)."""

    def __init__(self, settings: Settings, sources: dict[str, Source]) -> None:
        self.settings = settings
        self.sources = sources


def _detect_deployment(values: Mapping[str, str]) -> str:
    explicit = values.get("OBSERVER_DEPLOYMENT", "").strip()
    if explicit:
        return explicit
    return "kubernetes" if values.get("KUBERNETES_SERVICE_HOST") else "local"


def _read_env_file(path: str, problems: list[str]) -> dict[str, str]:
    file = Path(path)
    if not file.is_file():
        problems.append(f"OBSERVER_ENV_FILE: {path!r} is not a readable file")
        return {}
    return {k: v for k, v in dotenv_values(file).items() if v is not None}


def load_settings(
    environ: Mapping[str, str] | None = None, env_file: str | None = None
) -> LoadedSettings:
    """Build the one Settings object from the environment (and an optional env file).

    Raises ConfigError with one line per problem; the CLI turns that into exit code 2.
    """
    env = dict(os.environ if environ is None else environ)
    problems: list[str] = []
    env_file = env_file or env.get("OBSERVER_ENV_FILE")
    file_values = _read_env_file(env_file, problems) if env_file else {}

    merged: dict[str, str] = {**file_values, **env}
    sources: dict[str, Source] = {}
    for alias in ALIASES:
        if alias in env:
            sources[alias] = "environment"
        elif alias in file_values:
            sources[alias] = "file"

    for name in sorted(k for k in merged if k.startswith("OBSERVER_")):
        if name not in ALIASES and name not in NON_SETTING_VARS:
            problems.append(f"{name}: unknown variable (value {merged[name]!r}); check the name")

    deployment = _detect_deployment(merged)
    values: dict[str, Any] = {a: merged[a] for a in ALIASES if a in merged and merged[a] != ""}
    values["OBSERVER_DEPLOYMENT"] = deployment
    sources.setdefault("OBSERVER_DEPLOYMENT", "derived")

    if deployment == "kubernetes":
        for alias in REQUIRED_IN_K8S:
            if not merged.get(alias, "").strip():
                expected = K8S_PATHS.get(alias, "one of kis, sim, replay")
                problems.append(
                    f"{alias}: required in Kubernetes but not set (expected {expected})"
                )
    _fill_paths(values, sources, problems)
    _fill_source_and_urls(values, sources)
    if values.get("OBSERVER_SOURCE") == "replay" and not values.get("OBSERVER_REPLAY_PATH"):
        problems.append("OBSERVER_REPLAY_PATH: required when OBSERVER_SOURCE=replay")

    try:
        settings = Settings.model_validate(values)
    except ValidationError as exc:
        problems.extend(_describe(exc, values))
    if problems:
        raise ConfigError(problems)
    return LoadedSettings(settings, sources)


def _fill_paths(values: dict[str, Any], sources: dict[str, Source], problems: list[str]) -> None:
    home = Path(values.get("OBSERVER_HOME", "var/observer")).expanduser()
    if not home.is_absolute():
        home = Path.cwd() / home
    values["OBSERVER_HOME"] = str(home)
    for alias, (_field, default, parent) in PATH_VARS.items():
        if alias in values:
            path = Path(str(values[alias])).expanduser()
            if not path.is_absolute():
                problems.append(f"{alias}: must be an absolute path, got {values[alias]!r}")
            continue
        base = home if parent is None else Path(values[parent])
        values[alias] = str(base / default)
        sources[alias] = "derived"


def _fill_source_and_urls(values: dict[str, Any], sources: dict[str, Source]) -> None:
    if "OBSERVER_SOURCE" not in values:
        has_creds = bool(values.get("KIS_APP_KEY")) and bool(values.get("KIS_APP_SECRET"))
        values["OBSERVER_SOURCE"] = "kis" if has_creds else "sim"
        sources["OBSERVER_SOURCE"] = "derived"
    env = str(values.get("KIS_ENV", "real"))
    rest, ws = KIS_HOSTS.get(env, KIS_HOSTS["real"])
    for alias, default in (
        ("KIS_BASE_URL", rest),
        ("KIS_WS_URL", ws),
        ("KIS_MASTER_URL", KIS_MASTER_DEFAULT),
    ):
        if alias not in values:
            values[alias] = default
            sources[alias] = "derived"
    if values.get("OBSERVER_DEPLOYMENT") == "kubernetes" and "OBSERVER_HTTP_HOST" not in values:
        values["OBSERVER_HTTP_HOST"] = "0.0.0.0"  # noqa: S104 - the pod must listen on its IP
        sources["OBSERVER_HTTP_HOST"] = "derived"


def _describe(exc: ValidationError, values: Mapping[str, Any]) -> list[str]:
    lines = []
    for error in exc.errors():
        alias = str(error["loc"][0]) if error["loc"] else "?"
        shown = "<redacted>" if alias in SECRET_VARS else repr(values.get(alias))
        lines.append(f"{alias}: {error['msg']} (got {shown})")
    return lines


def settings_for_tests(home: Path, **overrides: Any) -> Settings:
    """Settings rooted at ``home`` with aliases or field names as overrides (tests, benchmarks)."""
    environ = {"OBSERVER_HOME": str(home)}
    for key, value in overrides.items():
        alias = key if key in ALIASES else _alias_of(key)
        environ[alias] = str(value)
    return load_settings(environ).settings


def _alias_of(field: str) -> str:
    for alias, name in ALIASES.items():
        if name == field:
            return alias
    raise KeyError(field)
