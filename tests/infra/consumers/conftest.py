from tests.infra.consumers.aws import fake_credentials  # noqa: F401
