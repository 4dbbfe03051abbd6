"""Real M4A/MP4 and WebM recordings, encoded by PyAV itself (FFmpeg inside its wheel), for the ``speech-av`` path."""

from __future__ import annotations

import io

import numpy as np

__all__ = ["CONTAINERS", "encode_av"]

#: Container -> (FFmpeg muxer, audio codec, MIME type), as phones and browsers record.
CONTAINERS = {
    "m4a": ("ipod", "aac", "audio/mp4"),
    "mp4": ("mp4", "aac", "video/mp4"),
    "webm": ("webm", "libopus", "audio/webm"),
}


class _Stream(io.RawIOBase):
    """A write-only stream that cannot seek back: the muxer leaves the duration out, as MediaRecorder does."""

    def __init__(self) -> None:
        self.chunks: list[bytes] = []

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def write(self, data) -> int:
        self.chunks.append(bytes(data))
        return len(data)


def encode_av(samples: np.ndarray, rate: int, container: str, *, streamed: bool = False) -> bytes:
    """``samples`` ([samples] or [samples, channels] float32) as an m4a, mp4 or webm file.

    ``streamed``: written as a stream (webm), so the header carries no duration, as a browser records.
    """
    import av

    muxer, codec, _ = CONTAINERS[container]
    planar = np.atleast_2d(samples.T if samples.ndim == 2 else samples).astype(np.float32)
    layout = "stereo" if planar.shape[0] == 2 else "mono"
    buffer = _Stream() if streamed else io.BytesIO()
    with av.open(buffer, "w", format=muxer) as output:
        stream = output.add_stream(codec, rate=rate, layout=layout)
        for start in range(0, planar.shape[1], 1024):
            frame = av.AudioFrame.from_ndarray(
                np.ascontiguousarray(planar[:, start : start + 1024]), format="fltp", layout=layout
            )
            frame.sample_rate = rate
            for packet in stream.encode(frame):
                output.mux(packet)
        for packet in stream.encode(None):
            output.mux(packet)
    return b"".join(buffer.chunks) if isinstance(buffer, _Stream) else buffer.getvalue()
