"""The durable JSONL archive: writer, reader, recovery, compression, quarantine.

The archive is the single write path and the source of truth; see ``docs/archive.md``.
"""
