"""Types of the C extension ``_tickcopy.c`` (the loader's binary COPY fast path)."""

BAR_INPUT_SIZE: int

def configure(fields: tuple[tuple[str, str], ...], tr_ids: tuple[str, ...]) -> None: ...
def encode_lines(
    data: bytes,
    start: int,
    most: int,
    day: str,
    day_value: int,
    buffers: tuple[bytearray, ...],
) -> tuple[int, int, int | None, int | None]: ...
def aggregate(inputs: bytearray, day_value: int) -> bytes | None: ...
