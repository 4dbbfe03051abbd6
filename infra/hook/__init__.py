"""Code of the functions the CDK app deploys beside the models (CodeDeploy hooks)."""
