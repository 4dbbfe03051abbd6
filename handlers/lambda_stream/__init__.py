"""Response streaming on Lambda from Python: maaskit's own loop over the Runtime API's streaming mode.

AWS's managed Python runtime cannot stream a response (aws-lambda-roadmap#39); the Runtime API can.
:mod:`handlers.lambda_stream.loop` replaces the managed runtime's loop (started through
``AWS_LAMBDA_EXEC_WRAPPER``), runs the same ASGI app the buffered path runs, and streams each answer
(:mod:`handlers.lambda_stream.bridge`) over the Runtime API (:mod:`handlers.lambda_stream.runtime_api`).
"""
