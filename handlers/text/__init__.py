"""Text models at serving time: raw texts in, embeddings, labels and entities out.

- :mod:`handlers.text.inputs`: texts out of decoded request values, checked (empty, too many, wrong types).
- :mod:`handlers.text.processor`: the text bundles' processor (texts and token ids out of the codecs'
  family-neutral inputs, tokenized with the bundle's tokenizer; per-text answers by task and answer style).
  No protocol module knows about text.
- :mod:`handlers.text.answers`: top-k labels, entity aggregation, embedding truncation.
"""
