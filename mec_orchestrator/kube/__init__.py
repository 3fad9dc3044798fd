"""The only code that talks to the Kubernetes API server (besides kopf's own watching).

Server-side apply of instances, deletions, the single EdgeApp status writer, and Events.
"""
