"""The SDK an edge application uses to live on this platform, and a reference app built on it.

- Mp1 (ETSI MEC 011 app support): register with the edge-host agent on the app's host, confirm
  ready, confirm termination, hear termination requests (`mec_app_sdk.mp1`).
- User contexts: keep per-user state with versions and change tracking, and serve the
  `UserContextService` (export with a fence, import, release, unfence) the agents use to hand a
  user's state over to another host (`mec_app_sdk.contexts`).
- `mec-reference-app`: an AR-anchor-like stateful app built on both (`mec_app_sdk.reference`).

It depends on neither the orchestrator nor the agent (an import contract says so): an app
vendor installs it alone.
"""
