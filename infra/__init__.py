"""Deploy phase: the CDK app, constructs and release operations."""
