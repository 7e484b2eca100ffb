"""The checks ``observer run`` makes before it collects, shared with ``observer config --check``.

Each returns one line per problem, naming the variable and what is wrong; an empty list means
the service may start. Nothing here creates a file or opens a connection.
"""

from __future__ import annotations

from observer.archive.lock import current_holder
from observer.config.paths import check_paths
from observer.config.settings import Settings
from observer.market.calendar import MarketCalendar
from observer.market.exceptions import CalendarError

# Requests per second per app key that KIS allows (KIS_PROTOCOL.md: about 20/s real, 2/s paper).
KIS_RATE_CEILING = {"real": 20.0, "paper": 2.0}


def credential_problems(settings: Settings) -> list[str]:
    """KIS credentials: present for source kis, and KIS_EXTRA_APP_KEYS well formed."""
    problems: list[str] = []
    if settings.source == "kis" and not settings.has_kis_credentials:
        problems.append("KIS_APP_KEY/KIS_APP_SECRET: both are required when OBSERVER_SOURCE=kis")
    elif (settings.kis_app_key is None) != (settings.kis_app_secret is None):
        given, missing = (
            ("KIS_APP_KEY", "KIS_APP_SECRET")
            if settings.kis_app_secret is None
            else ("KIS_APP_SECRET", "KIS_APP_KEY")
        )
        problems.append(
            f"{missing}: not set, but {given} is; set both (real data) or neither (simulator)"
        )
    if settings.kis_extra_app_keys is not None:
        pairs = settings.kis_extra_app_keys.get_secret_value().split(",")
        for number, pair in enumerate(pairs, start=1):
            key, sep, secret = pair.strip().partition(":")
            if not (sep and key.strip() and secret.strip()):
                problems.append(
                    f"KIS_EXTRA_APP_KEYS: entry {number} of {len(pairs)} is not KEY:SECRET"
                    " (expected KEY1:SECRET1,KEY2:SECRET2; values not shown)"
                )
    return problems


def limit_problems(settings: Settings) -> list[str]:
    """Rate limit, disk thresholds and the replay path."""
    problems: list[str] = []
    ceiling = KIS_RATE_CEILING[settings.kis_env]
    if settings.kis_rate_limit > ceiling:
        problems.append(
            f"KIS_RATE_LIMIT_PER_SECOND: {settings.kis_rate_limit:g} is above the KIS ceiling"
            f" of {ceiling:g} requests/s per app key for KIS_ENV={settings.kis_env}"
        )
    if settings.disk_warn_free_mb < settings.disk_min_free_mb:
        problems.append(
            f"OBSERVER_DISK_WARN_FREE_MB: {settings.disk_warn_free_mb} is below"
            f" OBSERVER_DISK_MIN_FREE_MB ({settings.disk_min_free_mb}); the warning must come"
            " before the pause"
        )
    if settings.source == "replay" and settings.replay_path is not None:
        if not settings.replay_path.exists():
            problems.append(f"OBSERVER_REPLAY_PATH: {settings.replay_path} does not exist")
    return problems


def schedule_problems(settings: Settings) -> list[str]:
    """The session schedule and the calendar override file."""
    try:
        MarketCalendar(settings)
    except CalendarError as err:
        return [str(err)]
    return []


def preflight_problems(settings: Settings, *, lock: bool = False) -> list[str]:
    """Everything ``observer run`` checks before it starts collecting.

    ``lock`` adds the data directory's lock holder (``observer run`` itself takes the lock).
    """
    problems = [
        *check_paths(settings),
        *credential_problems(settings),
        *limit_problems(settings),
        *schedule_problems(settings),
    ]
    if lock:
        holder = current_holder(settings.data_dir)
        if holder is not None:
            problems.append(f"OBSERVER_DATA_DIR: {settings.data_dir} is in use by {holder}")
    return problems
