"""Python client SDK for maaskit endpoints (deployed API or `maaskit serve`)."""
