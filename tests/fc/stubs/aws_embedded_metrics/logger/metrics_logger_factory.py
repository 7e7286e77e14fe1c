"""Stand-in: see aws_embedded_metrics/__init__.py."""


def create_metrics_logger():
    """Never called while AWS_EMF_NAMESPACE is unset (tests/fc/run.sh unsets it)."""
    raise RuntimeError(
        "aws_embedded_metrics is a stand-in (tests/fc/stubs): "
        "unset AWS_EMF_NAMESPACE to run Firecracker's tests against Hearth"
    )
