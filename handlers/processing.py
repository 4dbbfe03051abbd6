"""The two seams of the runtime: processors own a model family, codecs own a wire format.

::

    wire request --codec.decode--> Inputs --processor.preprocess--> Feed --runtime.infer--> Outputs
    wire answer  <--codec.encode-- Answers <--processor.answer(style)-- Outputs (postprocess)

A **codec** (:mod:`handlers.protocols`, one module per protocol) knows its wire and nothing about
families. It decodes a request into family-neutral :class:`~handlers.vocabulary.Inputs`: values by
name, one unnamed value, rows, or token ids; strings kept as ``str``, bytes (binary ``BYTES``,
``{"b64": ...}``, a file body) as ``bytes``; request parameters (``top_k``) passed along untouched.
It writes :class:`~handlers.vocabulary.Answers` back in its wire's shape: the named ``outputs`` for
tensor protocols, the ``predictions`` for protocols that carry per-example answers, ``labels`` and
the ``primary`` output for row formats. It asks the processor only generic questions: which bodies
it takes (``bodies``), the labels of its score outputs (``score_labels``), its ``embedder``.

A **processor** (this module's :data:`PROCESSORS`, keyed by the manifest's ``task``) knows its family
and its model's inputs: it decides what the neutral inputs mean (texts, token ids, encoded images,
rows, named tensors), makes the onnxruntime feed (``preprocess``), may reshape the outputs
(``postprocess``), and answers per example in the conventions a codec asks for (``answer`` with a
:data:`~handlers.vocabulary.Style`: ``tensors``, ``predictions``, ``pipeline``, ``handler``), labels
mapped. Bundles whose task has no entry get :class:`~handlers.tabular.TensorProcessor`.

**A new family** (generation, speech) is one processor module and one entry in :data:`PROCESSORS`;
no codec changes. **A new protocol** is one codec module listed in
:data:`handlers.protocols.PROTOCOL_MODULES`; no processor changes. The generic endpoint
(:func:`handlers.protocols.base.inference_endpoint`) runs the pipeline for every codec.
"""

from __future__ import annotations

from collections.abc import Callable

from bundle import IMAGE_TASKS, TEXT_TASKS, Bundle
from handlers.tabular import TensorProcessor
from handlers.vocabulary import Processor

__all__ = ["PROCESSORS", "ProcessorFactory", "TensorProcessor", "processor_for"]

ProcessorFactory = Callable[[Bundle], Processor]

#: Processor factories by manifest ``task``; any other task gets a :class:`TensorProcessor`.
PROCESSORS: dict[str, ProcessorFactory] = {}


def _text_processor(bundle: Bundle) -> Processor:
    from handlers.text.processor import TextProcessor  # imports the tokenizer path only for text bundles

    return TextProcessor(bundle)


def _image_processor(bundle: Bundle) -> Processor:
    from handlers.image.processor import ImageProcessor  # imports Pillow only for image bundles

    return ImageProcessor(bundle)


def _generation_processor(bundle: Bundle) -> Processor:
    from handlers.generation.processor import GenerationProcessor  # tokenizers + jinja2 only for causal LMs

    return GenerationProcessor(bundle)


PROCESSORS.update({task: _text_processor for task in sorted(TEXT_TASKS)})
PROCESSORS.update({task: _image_processor for task in sorted(IMAGE_TASKS)})
PROCESSORS["text-generation"] = _generation_processor


def _speech_processor(bundle: Bundle) -> Processor:
    from handlers.speech.processor import SpeechProcessor  # decodes audio only for speech bundles

    return SpeechProcessor(bundle)


PROCESSORS["automatic-speech-recognition"] = _speech_processor


def _audio_classifier_processor(bundle: Bundle) -> Processor:
    from handlers.speech.classifier import AudioClassifierProcessor  # decodes audio only for audio classifiers

    return AudioClassifierProcessor(bundle)


PROCESSORS["audio-classification"] = _audio_classifier_processor


def processor_for(bundle: Bundle) -> Processor:
    """The processor for a loaded bundle: the one registered for its task, else plain tensors.

    Creating it loads what the family needs once (a tokenizer, an image preprocessor) and runs nothing.
    """
    factory = PROCESSORS.get(bundle.manifest.task or "")
    if factory is not None:
        return factory(bundle)
    return TensorProcessor(bundle.manifest, allow_nonfinite=bundle.manifest.allows_nonfinite)
