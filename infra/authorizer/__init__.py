"""The consumer-key Lambda authorizer: pure Python + boto3, shipped as its own small asset.

Nothing here imports the rest of maaskit: the asset is this directory alone.
"""
