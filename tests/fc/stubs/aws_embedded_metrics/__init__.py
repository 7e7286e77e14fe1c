"""Stand-in for aws-embedded-metrics (not packaged by Debian).

Firecracker's tests/host_tools/metrics.py imports
aws_embedded_metrics.logger.metrics_logger_factory.create_metrics_logger at
module level, but only calls it when AWS_EMF_NAMESPACE is set (to publish to
CloudWatch). tests/fc/run.sh unsets that variable, so only the import has to
succeed.
"""
