"""The only code that talks to the Kubernetes API server (besides kopf's own watching).

Server-side apply of instances, deletions, the status writers (EdgeApp, EdgeHost), Events, and
reading the peering object.
"""
