#!/bin/sh
# AWS_LAMBDA_EXEC_WRAPPER for streaming functions: replace the managed Python runtime's loop (which
# cannot stream) with maaskit's own loop over the same Runtime API (AWS_LAMBDA_RUNTIME_API). The
# arguments Lambda passes (the managed runtime's own command) are not used.
export PYTHONPATH="${LAMBDA_TASK_ROOT:-/var/task}${PYTHONPATH:+:$PYTHONPATH}"
python="$(command -v python3 || echo /var/lang/bin/python3)"
exec "$python" -m handlers.lambda_stream
