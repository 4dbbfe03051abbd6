"""``python -m handlers.lambda_stream``: the streaming runtime loop (see :mod:`handlers.lambda_stream.loop`)."""

from handlers.lambda_stream.loop import main

raise SystemExit(main())
