"""Types of the C extension ``_tickcopy.c`` (the loader's binary COPY fast path)."""

HEADER: tuple[tuple[str, str], ...]

def configure(fields: tuple[tuple[str, str], ...], tr_ids: tuple[str, ...]) -> None: ...
def encode_lines(
    data: bytes,
    start: int,
    most: int,
    day: str,
    day_value: int,
    rows: bytearray,
    bars: bytearray,
) -> tuple[int, int, int | None, int | None]: ...
