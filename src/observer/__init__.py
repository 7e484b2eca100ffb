"""Observer: a crash-safe market-data observer for KOSPI/KOSDAQ."""

__version__ = "0.1.0"
