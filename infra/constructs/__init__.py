"""Reusable constructs of the maaskit CDK app. Each takes typed props and never reads context."""
