"""Kubernetes access for responder's pod actions: a small REST client (``client``), how a cluster is
reached (``access``: explicit endpoints, kubeconfig files with exec plugins, EKS) and error translation
(``errors``). Imported only where a Kubernetes action runs, so cold starts never load it."""
