"""Packaging for clusters: OCI build contexts and Kubernetes / KServe manifests."""
