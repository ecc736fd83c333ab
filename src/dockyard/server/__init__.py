"""The HTTP server: the data plane and its protocol adapters (v1 REST, the Open Inference
Protocol), docs, health and metrics. ``dockyard.server.app.create_app`` builds it."""
