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


def encode_av(samples: np.ndarray, rate: int, container: str) -> bytes:
    """``samples`` ([samples] or [samples, channels] float32) as an m4a, mp4 or webm file."""
    import av

    muxer, codec, _ = CONTAINERS[container]
    planar = np.atleast_2d(samples.T if samples.ndim == 2 else samples).astype(np.float32)
    layout = "stereo" if planar.shape[0] == 2 else "mono"
    buffer = io.BytesIO()
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
    return buffer.getvalue()
