"""PostgreSQL: migrations, the archive loader, bar aggregation, compatibility views, import."""
