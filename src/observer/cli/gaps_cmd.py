"""``observer gaps``: the gaps of a day with their repair outcome, and what is still missing."""

from __future__ import annotations

from datetime import datetime

import click

from observer.cli.context import clock_from, load_or_exit
from observer.ops.gap_report import build_report


@click.command("gaps")
@click.option("--date", "day", type=click.DateTime(["%Y-%m-%d"]), help="Day (default: today).")
@click.option("--symbol", help="Only this symbol (6-digit code).")
def gaps_command(day: datetime | None, symbol: str | None) -> None:
    """List a day's gaps with their repair outcome and, per symbol, the trades and volume
    still unaccounted for (read from the archive)."""
    settings = load_or_exit().settings
    chosen = day.date() if day is not None else clock_from(settings).now().date()
    report = build_report(settings.assets_dir, chosen, symbol)
    click.echo(f"gaps of {chosen.isoformat()}: {len(report.gaps)}")
    for gap in report.gaps:
        missed = "?" if gap.missed_volume is None else str(gap.missed_volume)
        recovered = "" if gap.trades_recovered is None else f" +{gap.trades_recovered} trades"
        why = f" ({gap.detail})" if gap.detail else ""
        outcome = gap.outcome or "untracked"
        click.echo(
            f"  {gap.symbol}  {gap.start[11:19]}-{gap.end[11:19]}  {gap.reason:<16} "
            f"missed volume {missed:>8}  {outcome}{recovered}{why}"
        )
    click.echo("symbol  trades  backfilled  volume  unaccounted trades  unaccounted volume")
    for line in report.symbols:
        trades = "?" if line.unaccounted_trades is None else str(line.unaccounted_trades)
        click.echo(
            f"{line.symbol}  {line.trades:>6}  {line.backfilled:>10}  {line.volume:>6}  "
            f"{trades:>18}  {line.unaccounted_volume:>18}"
        )


COMMANDS = [gaps_command]
