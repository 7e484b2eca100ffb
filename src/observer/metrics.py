"""Every Prometheus metric the service exports, in one place.

One :class:`Metrics` is built per process (never at import time) and passed to each
component. Names follow Prometheus conventions: base units, ``_total`` for counters,
histograms for latencies. The PrometheusRule and the Grafana dashboard may only use names
defined here (a test checks it against a running service).
"""

from __future__ import annotations

from functools import partial

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Info,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)

from observer import __version__

LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class Metrics:
    """The service's metric families, registered on a private registry."""

    def __init__(self) -> None:
        r = self.registry = CollectorRegistry(auto_describe=True)
        ProcessCollector(registry=r)
        PlatformCollector(registry=r)
        counter = partial(Counter, registry=r)
        gauge = partial(Gauge, registry=r)
        histogram = partial(Histogram, registry=r)
        self.build_info = Info("observer_build", "Build information", registry=r)
        self.build_info.info({"version": __version__})
        # archive
        self.records_received = counter(
            "observer_records_received_total", "Records handed to the archive", ["stream"]
        )
        self.records_stored = counter(
            "observer_records_stored_total", "Records written and fsync'd", ["stream"]
        )
        self.archive_bytes = counter(
            "observer_archive_bytes_written_total", "Bytes appended to the archive", ["stream"]
        )
        self.fsync_seconds = histogram(
            "observer_archive_fsync_seconds",
            "Duration of one write+fsync batch",
            buckets=LATENCY_BUCKETS,
        )
        self.ack_seconds = histogram(
            "observer_archive_ack_seconds",
            "Enqueue to fsync-acknowledged latency",
            buckets=LATENCY_BUCKETS,
        )
        self.queue_depth = gauge("observer_archive_queue_depth", "Records waiting to be written")
        self.recovered_truncations = counter(
            "observer_archive_recovered_truncations_total", "Partial last lines cut off at start-up"
        )
        self.last_record_time = gauge(
            "observer_last_record_timestamp_seconds",
            "Receive time of the newest stored record",
            ["stream"],
        )
        self.archive_accepting = gauge(
            "observer_archive_accepting", "1 while the archive accepts input"
        )
        self.archive_refused = counter(
            "observer_archive_refused_records_total",
            "Records a failed archive write did not store (each in an archive_refused gap)",
            ["stream"],
        )
        self.archive_refusing = gauge(
            "observer_archive_refusing",
            "1 while refused records wait for their archive_refused gap record",
        )
        self.compressed_files = counter(
            "observer_archive_compressed_files_total", "Closed hours compressed"
        )
        self.quarantined = counter(
            "observer_quarantined_records_total", "Records rejected and quarantined", ["reason"]
        )
        # KIS
        self.kis_requests = counter(
            "observer_kis_requests_total", "KIS REST requests", ["api", "outcome"]
        )
        self.kis_rate_limited = counter(
            "observer_kis_rate_limited_total", "EGW00201 answers (per-second limit hit)"
        )
        self.kis_request_seconds = histogram(
            "observer_kis_request_seconds",
            "KIS REST request duration",
            ["api"],
            buckets=LATENCY_BUCKETS,
        )
        self.token_issued = counter("observer_kis_token_issued_total", "Access tokens issued")
        self.token_expiry = gauge(
            "observer_kis_token_expiry_timestamp_seconds", "Expiry of the current access token"
        )
        self.ws_connected = gauge(
            "observer_ws_connected", "1 while the WebSocket session is up", ["session"]
        )
        self.ws_reconnects = counter(
            "observer_ws_reconnects_total", "WebSocket reconnects", ["session"]
        )
        self.ws_registrations = gauge(
            "observer_ws_registrations", "Registered (tr_id, tr_key) pairs", ["session"]
        )
        self.ws_last_message = gauge(
            "observer_ws_last_message_timestamp_seconds",
            "Time of the last WebSocket message",
            ["session"],
        )
        self.ws_frames = counter(
            "observer_ws_frames_total", "WebSocket data frames received", ["tr_id"]
        )
        # market
        self.market_open = gauge(
            "observer_market_open", "1 during a collecting session (per the calendar)"
        )
        self.universe_symbols = gauge("observer_universe_symbols", "Symbols in today's universe")
        self.sweep_seconds = histogram(
            "observer_sweep_duration_seconds",
            "Track A sweep duration",
            buckets=(0.5, 1, 2, 3, 5, 10, 20, 30, 60, 120, 300),
        )
        self.sweep_calls = counter("observer_sweep_calls_total", "Track A REST calls")
        self.sweep_errors = counter("observer_sweep_errors_total", "Track A calls that failed")
        self.sweep_coverage = gauge(
            "observer_sweep_coverage_ratio", "Symbols quoted / universe in the last sweep"
        )
        self.slots_used = gauge("observer_scalp_slots_used", "Track B slots in use", ["session"])
        self.slot_changes = counter(
            "observer_scalp_slot_changes_total",
            "Track B slot assignments and evictions",
            ["action"],
        )
        self.gaps = counter("observer_gaps_total", "Gaps recorded", ["reason"])
        # gap repair from the time-and-sales API
        self.gap_repairs = counter(
            "observer_gap_repairs_total", "Gap repairs finished, by outcome", ["outcome"]
        )
        self.gap_repairs_pending = gauge(
            "observer_gap_repairs_pending", "Gaps waiting for or in repair"
        )
        self.gap_trades_recovered = counter(
            "observer_gap_trades_recovered_total", "Trades archived by gap repair"
        )
        self.gap_repair_calls = counter(
            "observer_gap_repair_calls_total", "Time-and-sales calls made by gap repair"
        )
        self.flagged = counter(
            "observer_records_flagged_total", "Records kept with quality flags", ["flag"]
        )
        # store
        self.db_up = gauge("observer_db_up", "1 while the loader reaches PostgreSQL")
        self.loader_rows = counter(
            "observer_loader_rows_total", "Rows inserted by the loader", ["table"]
        )
        self.loader_lag_records = gauge(
            "observer_loader_lag_records", "Archived records not yet in PostgreSQL", ["stream"]
        )
        self.loader_lag_seconds = gauge(
            "observer_loader_lag_seconds",
            "Receive time of the newest archived record minus that of the newest loaded one",
        )
        self.loader_fast_path = gauge(
            "observer_loader_fast_path",
            "1 when the compiled fast path loads trades, 0 when the slower general path does",
        )
        self.loader_errors = counter(
            "observer_loader_errors_total", "Loader batches that failed and will be retried"
        )
        self.loader_rejected = counter(
            "observer_loader_rejected_total",
            "Archive lines the loader could not load (bad record, or a row the server refused)",
        )
        # operations
        self.disk_free_bytes = gauge("observer_disk_free_bytes", "Free bytes on the data volume")
        self.disk_total_bytes = gauge("observer_disk_total_bytes", "Size of the data volume")
        self.maintenance_runs = counter(
            "observer_maintenance_runs_total", "Maintenance tasks run", ["task", "outcome"]
        )
        self.retention_removed = counter(
            "observer_retention_removed_total", "Items removed by retention", ["class"]
        )
        self.backup_last_success = gauge(
            "observer_backup_last_success_timestamp_seconds", "Time of the last good backup"
        )

    def render(self) -> bytes:
        """The Prometheus text exposition of every metric."""
        return generate_latest(self.registry)
