"""Release operations: model registry and traffic shifting with boto3."""
