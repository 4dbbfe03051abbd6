"""Speech recognition models (automatic-speech-recognition): Whisper and CTC folders to gated speech bundles.

:func:`package_speech` backs ``maaskit package DIR --task automatic-speech-recognition`` (and folders whose
``config.json`` names ``WhisperForConditionalGeneration`` or a ``*ForCTC`` architecture); see ``docs/speech.md``.
"""

from __future__ import annotations

from model_packager.speech.entry import package_speech, wants_speech

__all__ = ["package_speech", "wants_speech"]
