"""Kubernetes access for responder's pod actions: cluster connections (``access``) and error translation
(``errors``). Imported only where a Kubernetes action runs, so cold starts never load the client."""
