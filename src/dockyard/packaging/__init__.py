"""Packaging: lock, wheelhouse, Dockerfile, build context, engine, compose and Kubernetes.

Kept free of imports so that ``dockyard.packaging.healthcheck`` stays cheap to run.
"""
