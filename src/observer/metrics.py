"""Every Prometheus metric the service exports, in one place.

One :class:`Metrics` is built per process (never at import time) and passed to each
component. Names follow Prometheus conventions: base units, ``_total`` for counters,
histograms for latencies. The PrometheusRule and the Grafana dashboard may only use names
defined here (a test checks it against a running service).
"""

from __future__ import annotations

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
        self.build_info = Info("observer_build", "Build information", registry=r)
        self.build_info.info({"version": __version__})
        # archive
        self.records_received = Counter(
            "observer_records_received_total",
            "Records handed to the archive",
            ["stream"],
            registry=r,
        )
        self.records_stored = Counter(
            "observer_records_stored_total", "Records written and fsync'd", ["stream"], registry=r
        )
        self.archive_bytes = Counter(
            "observer_archive_bytes_written_total",
            "Bytes appended to the archive",
            ["stream"],
            registry=r,
        )
        self.fsync_seconds = Histogram(
            "observer_archive_fsync_seconds",
            "Duration of one write+fsync batch",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.ack_seconds = Histogram(
            "observer_archive_ack_seconds",
            "Enqueue to fsync-acknowledged latency",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.queue_depth = Gauge(
            "observer_archive_queue_depth", "Records waiting to be written", registry=r
        )
        self.recovered_truncations = Counter(
            "observer_archive_recovered_truncations_total",
            "Partial last lines cut off at start-up",
            registry=r,
        )
        self.last_record_time = Gauge(
            "observer_last_record_timestamp_seconds",
            "Receive time of the newest stored record",
            ["stream"],
            registry=r,
        )
        self.archive_accepting = Gauge(
            "observer_archive_accepting", "1 while the archive accepts input", registry=r
        )
        self.archive_refused = Counter(
            "observer_archive_refused_records_total",
            "Records a failed archive write did not store (each in an archive_refused gap)",
            ["stream"],
            registry=r,
        )
        self.archive_refusing = Gauge(
            "observer_archive_refusing",
            "1 while refused records wait for their archive_refused gap record",
            registry=r,
        )
        self.compressed_files = Counter(
            "observer_archive_compressed_files_total", "Closed hours compressed", registry=r
        )
        self.quarantined = Counter(
            "observer_quarantined_records_total",
            "Records rejected and quarantined",
            ["reason"],
            registry=r,
        )
        # KIS
        self.kis_requests = Counter(
            "observer_kis_requests_total", "KIS REST requests", ["api", "outcome"], registry=r
        )
        self.kis_rate_limited = Counter(
            "observer_kis_rate_limited_total", "EGW00201 answers (per-second limit hit)", registry=r
        )
        self.kis_request_seconds = Histogram(
            "observer_kis_request_seconds",
            "KIS REST request duration",
            ["api"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.token_issued = Counter(
            "observer_kis_token_issued_total", "Access tokens issued", registry=r
        )
        self.token_expiry = Gauge(
            "observer_kis_token_expiry_timestamp_seconds",
            "Expiry of the current access token",
            registry=r,
        )
        self.ws_connected = Gauge(
            "observer_ws_connected", "1 while the WebSocket session is up", ["session"], registry=r
        )
        self.ws_reconnects = Counter(
            "observer_ws_reconnects_total", "WebSocket reconnects", ["session"], registry=r
        )
        self.ws_registrations = Gauge(
            "observer_ws_registrations", "Registered (tr_id, tr_key) pairs", ["session"], registry=r
        )
        self.ws_last_message = Gauge(
            "observer_ws_last_message_timestamp_seconds",
            "Time of the last WebSocket message",
            ["session"],
            registry=r,
        )
        self.ws_frames = Counter(
            "observer_ws_frames_total", "WebSocket data frames received", ["tr_id"], registry=r
        )
        # market
        self.market_open = Gauge(
            "observer_market_open", "1 during a collecting session (per the calendar)", registry=r
        )
        self.universe_symbols = Gauge(
            "observer_universe_symbols", "Symbols in today's universe", registry=r
        )
        self.sweep_seconds = Histogram(
            "observer_sweep_duration_seconds",
            "Track A sweep duration",
            buckets=(0.5, 1, 2, 3, 5, 10, 20, 30, 60, 120, 300),
            registry=r,
        )
        self.sweep_calls = Counter("observer_sweep_calls_total", "Track A REST calls", registry=r)
        self.sweep_errors = Counter(
            "observer_sweep_errors_total", "Track A calls that failed", registry=r
        )
        self.sweep_coverage = Gauge(
            "observer_sweep_coverage_ratio",
            "Symbols quoted / universe in the last sweep",
            registry=r,
        )
        self.slots_used = Gauge(
            "observer_scalp_slots_used", "Track B slots in use", ["session"], registry=r
        )
        self.slot_changes = Counter(
            "observer_scalp_slot_changes_total",
            "Track B slot assignments and evictions",
            ["action"],
            registry=r,
        )
        self.gaps = Counter("observer_gaps_total", "Gaps recorded", ["reason"], registry=r)
        # gap repair from the time-and-sales API
        self.gap_repairs = Counter(
            "observer_gap_repairs_total",
            "Gap repairs finished, by outcome",
            ["outcome"],
            registry=r,
        )
        self.gap_repairs_pending = Gauge(
            "observer_gap_repairs_pending", "Gaps waiting for or in repair", registry=r
        )
        self.gap_trades_recovered = Counter(
            "observer_gap_trades_recovered_total", "Trades archived by gap repair", registry=r
        )
        self.gap_repair_calls = Counter(
            "observer_gap_repair_calls_total", "Time-and-sales calls made by gap repair", registry=r
        )
        self.flagged = Counter(
            "observer_records_flagged_total",
            "Records kept with quality flags",
            ["flag"],
            registry=r,
        )
        # store
        self.db_up = Gauge("observer_db_up", "1 while the loader reaches PostgreSQL", registry=r)
        self.loader_rows = Counter(
            "observer_loader_rows_total", "Rows inserted by the loader", ["table"], registry=r
        )
        self.loader_lag_records = Gauge(
            "observer_loader_lag_records",
            "Archived records not yet in PostgreSQL",
            ["stream"],
            registry=r,
        )
        self.loader_lag_seconds = Gauge(
            "observer_loader_lag_seconds",
            "Receive time of the newest archived record minus that of the newest loaded one",
            registry=r,
        )
        self.loader_fast_path = Gauge(
            "observer_loader_fast_path",
            "1 when the compiled fast path loads trades, 0 when the slower general path does",
            registry=r,
        )
        self.loader_errors = Counter(
            "observer_loader_errors_total",
            "Loader batches that failed and will be retried",
            registry=r,
        )
        self.loader_rejected = Counter(
            "observer_loader_rejected_total",
            "Archive lines the loader could not load (bad record, or a row the server refused)",
            registry=r,
        )
        # operations
        self.disk_free_bytes = Gauge(
            "observer_disk_free_bytes", "Free bytes on the data volume", registry=r
        )
        self.disk_total_bytes = Gauge(
            "observer_disk_total_bytes", "Size of the data volume", registry=r
        )
        self.maintenance_runs = Counter(
            "observer_maintenance_runs_total",
            "Maintenance tasks run",
            ["task", "outcome"],
            registry=r,
        )
        self.retention_removed = Counter(
            "observer_retention_removed_total", "Items removed by retention", ["class"], registry=r
        )
        self.backup_last_success = Gauge(
            "observer_backup_last_success_timestamp_seconds",
            "Time of the last good backup",
            registry=r,
        )

    def render(self) -> bytes:
        """The Prometheus text exposition of every metric."""
        return generate_latest(self.registry)
