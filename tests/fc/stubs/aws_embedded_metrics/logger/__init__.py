"""Stand-in package: see aws_embedded_metrics/__init__.py."""
