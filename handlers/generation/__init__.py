"""Generation: causal LM bundles served token by token (see ``docs/generation.md``).

:mod:`~handlers.generation.engine` owns the onnxruntime-genai model on one worker thread and hands
tokens to the asyncio server as they come; :mod:`~handlers.generation.processor` turns chat messages
or a prompt into token ids (the chat template rendered as transformers renders it);
:mod:`~handlers.generation.runtime` loads a bundle, warms it up on its golden continuations and
plugs it into the model repository; :mod:`handlers.protocols.openai_chat` speaks OpenAI's API.
Nothing here imports torch or transformers.
"""
