"""The environment contract: every variable, its default, its validation."""

from observer.config.exceptions import ConfigError
from observer.config.settings import Settings, load_settings

__all__ = ["ConfigError", "Settings", "load_settings"]
