"""Text models at serving time: raw texts in, embeddings, labels and entities out.

- :mod:`handlers.text.inputs`: texts out of request bodies, checked (empty, too many, wrong types).
- :mod:`handlers.text.processor`: the text bundles' processor (tokenize with the bundle's tokenizer,
  token arrays, per-text answers by task).
- :mod:`handlers.text.answers`: top-k labels, entity aggregation, embedding truncation.
"""
