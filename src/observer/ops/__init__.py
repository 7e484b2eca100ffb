"""Operations: retention, backups, the disk guard, the maintenance scheduler and export."""
